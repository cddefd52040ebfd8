"""Privacy audits and protection of face embeddings.

* :func:`invert` / :func:`invert_batch`: training-free model inversion (a fixed
  DCGAN face prior + black-box CMA-ES or gradients) against a bundled model,
  a callable, a torch module or an HTTP endpoint of your own deployment;
* :func:`audit_inversion` and :func:`write_audit_report`: what an attacker
  gains (transfer success on an independent recogniser, gallery rank);
* :func:`is_face_embedding`: out-of-domain (non-face) detection from an embedding;
* :class:`CancelableTransform` and :func:`rotate_key`: keyed, revocable templates;
  :func:`write_protection_report`: their cost (accuracy) and benefit (inversion) in one report.

Names are imported on first use (the inversion modules need PyTorch).
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "CancelableTransform": "facescope.privacy.templates",
    "TemplateProtectionError": "facescope.privacy.templates",
    "rotate_key": "facescope.privacy.templates",
    "invert": "facescope.privacy.invert",
    "invert_batch": "facescope.privacy.invert",
    "reproduction_score": "facescope.privacy.invert",
    "Inversion": "facescope.privacy.invert",
    "InversionError": "facescope.privacy.invert",
    "SCREENING_BUDGET": "facescope.privacy.invert",
    "DEEP_BUDGET": "facescope.privacy.invert",
    "FacePrior": "facescope.privacy.prior",
    "DCGANPrior": "facescope.privacy.prior",
    "ModelTarget": "facescope.privacy.targets",
    "CallableTarget": "facescope.privacy.targets",
    "HTTPTarget": "facescope.privacy.targets",
    "TorchTarget": "facescope.privacy.targets",
    "InversionTargetError": "facescope.privacy.targets",
    "AuditTargets": "facescope.privacy.audit",
    "AuditError": "facescope.privacy.audit",
    "InversionAudit": "facescope.privacy.audit",
    "audit_inversion": "facescope.privacy.audit",
    "targets_from_folder": "facescope.privacy.audit",
    "targets_from_file": "facescope.privacy.audit",
    "write_audit_report": "facescope.privacy.audit_report",
    "SchemeCost": "facescope.privacy.protection_report",
    "write_protection_report": "facescope.privacy.protection_report",
    "FaceEmbeddingCheck": "facescope.privacy.ood",
    "is_face_embedding": "facescope.privacy.ood",
    "face_embedding_scores": "facescope.privacy.ood",
    "import_face_check": "facescope.privacy.ood",
}

__getattr__ = lazy_exports("facescope.privacy", _EXPORTS)

__all__ = sorted(_EXPORTS)
