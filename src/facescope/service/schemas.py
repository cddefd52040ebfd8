"""Response and request models: they make the OpenAPI document the contract."""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    status: int
    code: str = Field(description="stable machine-readable reason, e.g. image_too_large")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class ImageSize(BaseModel):
    width: int
    height: int


class DetectedFace(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in image pixels")
    score: float = Field(description="detector confidence")
    landmarks5: list[list[float]]


class DetectResponse(BaseModel):
    image: ImageSize
    faces: list[DetectedFace]


class EmbeddedFace(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in image pixels")
    score: float = Field(description="detector confidence")
    landmarks5: list[list[float]]
    embedding: list[float] = Field(description="L2-normalised embedding")
    norm: float = Field(description="norm of the raw feature before normalisation")


class EmbedResponse(BaseModel):
    model: str
    image: ImageSize
    faces: list[EmbeddedFace]


class PadEvidence(BaseModel):
    cue: str
    value: float
    unit: str
    indicates: str = Field(description="live, attack or unclear")
    why: str
    weight: float = Field(description="pull on the live log-odds (positive: towards live)")


class PadResponse(BaseModel):
    image: ImageSize
    box: list[float] | None = Field(description="the face judged (the largest)")
    live_probability: float
    threshold: float = Field(description="decision threshold on live_probability")
    is_live: bool = Field(description="decision == 'live'")
    decision: str = Field(
        description="live, attack, or uncertain: the score lies in the model's uncertain band "
        "(only until the model is calibrated for this camera)"
    )
    uncertain_band: list[float] | None = Field(
        description="[low, high) of live_probability answered uncertain; null once calibrated"
    )
    attack_type: str = Field(description="none, print, replay or unknown")
    attack_probabilities: dict[str, float]
    evidence: list[PadEvidence]
    heatmap: list[list[float]] | None = Field(description="6x6 attack probability over the face")
    explanation: str
    calibrated: bool = Field(
        description="whether the threshold was calibrated on this deployment's own captures "
        "(facescope pad calibrate); false for the shipped model"
    )
    threshold_source: str = Field(description="where the threshold comes from")


class DecisionRuleOut(BaseModel):
    """The rule a decision applied (``facescope.types.DecisionRule``; docs/thresholds.md)."""

    mode: str = Field(description="1:1 (verification) or 1:N (open-set identification)")
    rate: str = Field(description="the error rate held: fmr (1:1) or fpir (1:N)")
    target: float = Field(description="its value")
    gallery_size: int | None = Field(description="subjects searched (1:N); null for 1:1")
    comparisons: int = Field(description="comparisons sharing the decision")
    per_comparison_fmr: float = Field(description="1 - (1 - target) ** (1 / comparisons)")
    model: str
    threshold: float = Field(description="accept when score >= threshold")
    calibration: str = Field(description="the data the thresholds were calibrated on")
    calibration_file: str = Field("", description="the thresholds file they were read from")
    calibrated_fmr: list[float] = Field(description="lowest and highest calibrated FMR")
    interpolated: bool = Field(description="between calibrated points (log10 FMR)")
    extrapolated: bool = Field(description="outside the calibrated points (1:N only)")
    note: str = ""
    text: str = Field(description="the rule in one line, for people")


class CandidateOut(BaseModel):
    identity: str
    score: float


class IdentifiedFace(BaseModel):
    box: list[float]
    detector_score: float
    identity: str | None = Field(description="null: nobody enrolled scores above the threshold")
    score: float | None = Field(description="best candidate's cosine similarity")
    candidates: list[CandidateOut]


class IdentifyResponse(BaseModel):
    collection: str
    model: str
    fpir: float = Field(description="false-positive identification rate the threshold holds")
    threshold: float
    subjects: int
    image: ImageSize
    faces: list[IdentifiedFace]
    decision_rule: DecisionRuleOut = Field(description="the 1:N rule that set the threshold")


class VerifyResponse(BaseModel):
    same_person: bool
    score: float
    threshold: float
    model: str
    fmr: float = Field(description="false-match rate the threshold was calibrated at")
    boxes: dict[str, list[float]] = Field(description="the face used on each side, by field")
    faces: dict[str, int] = Field(
        default_factory=dict, description="faces found in each photo (two-photo mode)"
    )
    comparisons: int = Field(
        default=1, description="face pairs compared; the threshold keeps the FMR over all"
    )
    collection: str | None = None
    subject: str | None = None
    decision_rule: DecisionRuleOut = Field(description="the 1:1 rule that set the threshold")


class OperatingPoint(BaseModel):
    fmr: float
    threshold: float


class CollectionOut(BaseModel):
    name: str
    model: str
    model_version: str
    subjects: int
    templates: int


class CollectionDetail(CollectionOut):
    operating_points: list[OperatingPoint] = Field(
        description="calibrated 1:1 thresholds (false-match rate -> cosine threshold)"
    )
    open_set_threshold: float = Field(description="identify's threshold at FPIR 1%")
    open_set_rule: DecisionRuleOut = Field(description="identify's rule at FPIR 1% for its size")


class CollectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    model: str = Field("sface", pattern=r"^(sface|dlib)$")


class TemplateOut(BaseModel):
    id: int
    source: str
    quality: float = Field(description="recognition-quality score in [0, 1] of the enrolled photo")
    norm: float


class SubjectOut(BaseModel):
    name: str
    metadata: dict[str, Any]
    templates: int
    created_at: float


class SubjectDetail(SubjectOut):
    faces: list[TemplateOut]


class EnrollResponse(BaseModel):
    """What ``POST .../subjects/{subject}/faces`` stored (``Gallery.enroll``'s EnrollResult)."""

    collection: str
    subject: str
    model: str
    added: int
    template_ids: list[int]
    box: list[float] = Field(description="the enrolled face")
    spectrum: str = Field("vis", description="capture spectrum recorded: vis, nir or thermal")
    warnings: list[str] = Field(
        default_factory=list,
        description="e.g. the face does not match the subject's other photos (stored anyway)",
    )


class Deleted(BaseModel):
    deleted: str
    templates_removed: int = 0
    templates_left: int | None = None
    erasure: Literal["complete", "pending"] = Field(
        default="complete",
        description="'pending' (HTTP 202): another reader still holds an old snapshot, so "
        "the erased bytes remain in the write-ahead log until it ends; the service "
        "finishes the erasure on its next access to the collection",
    )


class AuditOut(BaseModel):
    id: int
    at: float
    key_id: str | None
    client: str | None
    action: str
    collection: str | None
    subject: str | None
    outcome: str
    detail: dict[str, Any]


class Limits(BaseModel):
    max_body_bytes: int
    max_pixels: int
    max_faces: int
    rate_per_minute: int
    request_timeout_s: float


class LicencedModel(BaseModel):
    """An opt-in model under its own licence, and whether this service's data folder enabled it."""

    key: str
    licence: str
    provides: str
    enabled: bool
    enable_command: str


class InfoResponse(BaseModel):
    version: str
    auth_required: bool
    default_model: str
    models: list[str]
    limits: Limits
    fmr_choices: list[float]
    default_fmr: float
    default_fpir: float
    detector: str = "retinaface"
    research_models: list[LicencedModel] = Field(default_factory=list)


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    ready: bool
    checks: dict[str, str]


def __getattr__(name: str) -> Any:
    # EnrolResponse was renamed EnrollResponse (the spelling of ``enroll`` and
    # ``EnrollResult``); the old name works for one release.
    if name == "EnrolResponse":
        warnings.warn(
            "facescope.service.schemas.EnrolResponse is deprecated, use EnrollResponse",
            DeprecationWarning,
            stacklevel=2,
        )
        return EnrollResponse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
