"""Pretrained model files: location in site-packages and SHA-256 verification."""

from facescope.models.registry import MODEL_FILES, ModelFile, model_status, verified_path

__all__ = ["MODEL_FILES", "ModelFile", "model_status", "verified_path"]
