"""The photo library over REST: the people found in a library of photos (clusters)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/library", tags=["library"])
