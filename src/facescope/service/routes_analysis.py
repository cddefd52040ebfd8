"""Facial analysis over REST: a photo analysed at once, a video as a job."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["analysis"])
