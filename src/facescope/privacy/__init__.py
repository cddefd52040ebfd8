"""Privacy: protected (cancelable) templates; model-inversion audits come next."""

from facescope.privacy.templates import CancelableTransform, TemplateProtectionError, rotate_key

__all__ = ["CancelableTransform", "TemplateProtectionError", "rotate_key"]
