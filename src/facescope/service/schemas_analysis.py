"""Response models of the analysis endpoints: a photo's faces, and video jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from facescope.service.schemas import ImageSize

Point = list[float]


class PoseOut(BaseModel):
    yaw: float = Field(description="degrees; positive: the face turns to the image's right")
    pitch: float = Field(description="degrees; positive: looking up")
    roll: float = Field(description="degrees")
    axes: list[Point] = Field(
        description="for drawing: the origin (nose tip) then the tips of the head's x (red, "
        "towards the person's left), y (green, down) and z (blue, out of the face) axes, "
        "image pixels, half the face's size long"
    )


class GazeOut(BaseModel):
    yaw: float = Field(description="gaze direction in the camera's frame, degrees")
    pitch: float = Field(description="degrees")
    eye_yaw: float = Field(description="the eyes' direction relative to the head, degrees")
    eye_pitch: float
    rays: list[list[Point]] = Field(
        description="for drawing: per eye (the person's right, then left) the iris centre "
        "and the tip of the gaze arrow, image pixels"
    )


class EyeOpenness(BaseModel):
    right: float = Field(description="eye aspect ratio of the person's right eye")
    left: float


class ExpressionsOut(BaseModel):
    probabilities: dict[str, float] = Field(description="the 7 basic expressions; sum 1")
    top: str = Field(description="the most probable expression")


class QualityOut(BaseModel):
    score: float = Field(description="probability that the face is reliable for recognition")
    reasons: list[str] = Field(description="one sentence per poor component (empty: none)")
    components: dict[str, float | None]


class AnalyzedFace(BaseModel):
    face: int = Field(description="index in the image, left to right")
    box: list[float] = Field(description="x1, y1, x2, y2 in image pixels")
    detector_score: float
    landmarks5: list[Point]
    mesh: list[list[float]] | None = Field(
        None, description="478 points (468 face + 10 iris): x, y in pixels, z relative depth"
    )
    mesh_inside: float | None = Field(None, description="share of the mesh inside the image")
    landmarks68: list[Point] | None = None
    pose: PoseOut | None = None
    gaze: GazeOut | None = None
    eye_openness: EyeOpenness | None = None
    mouth_openness: float | None = Field(None, description="inner-lip gap over mouth width")
    expressions: ExpressionsOut | None = None
    valence: float | None = Field(None, description="derived from the expressions, -1..1")
    arousal: float | None = Field(None, description="derived from the expressions, -1..1")
    action_units: dict[str, float] | None = Field(
        None, description="geometric AU intensity estimates (not a trained AU detector)"
    )
    quality: QualityOut | None = None
    missing: dict[str, str] = Field(
        default_factory=dict, description="measure -> why it is absent (nothing is hidden)"
    )


class AnalyzeOptionsOut(BaseModel):
    expressions: bool
    landmarks68: bool
    mesh: bool
    max_faces: int


class AnalyzeResponse(BaseModel):
    image: ImageSize
    options: AnalyzeOptionsOut
    faces: list[AnalyzedFace]


# ---- video jobs ---------------------------------------------------------------------

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class JobProgress(BaseModel):
    frames_done: int = Field(description="frames read so far")
    frames_total: int | None = Field(
        None, description="frames the job will read, when the container says (else null)"
    )
    fraction: float | None = Field(None, description="frames_done / frames_total, 0..1")


class TrackBox(BaseModel):
    frame: int
    time: float = Field(description="seconds from the start")
    box: list[float] = Field(description="x1, y1, x2, y2 in frame pixels")


class TrackCandidate(BaseModel):
    identity: str
    score: float


class TrackAnalysis(BaseModel):
    frames: int = Field(description="analysed detections of this track")
    yaw: float | None = Field(None, description="mean head yaw, degrees")
    pitch: float | None = None
    roll: float | None = None
    gaze_yaw: float | None = None
    gaze_pitch: float | None = None
    eye_openness: float | None = Field(None, description="mean eye aspect ratio, both eyes")
    mouth_openness: float | None = None
    expressions: dict[str, float] | None = Field(
        None, description="mean expression probabilities over the track"
    )
    top_expression: str | None = None
    valence: float | None = None
    arousal: float | None = None
    quality: float | None = Field(None, description="mean quality score")
    blinks: int = Field(0, description="blinks counted over the track")
    missing: dict[str, int] = Field(
        default_factory=dict, description="measure -> on how many detections it was absent"
    )


class TrackOut(BaseModel):
    track_id: int
    first_frame: int
    last_frame: int
    start: float = Field(description="seconds")
    end: float = Field(description="seconds")
    detections: int
    identity: str | None = Field(
        None, description="with a collection: who the track is (null: nobody enrolled)"
    )
    score: float | None = None
    threshold: float | None = Field(None, description="the open-set threshold applied")
    candidates: list[TrackCandidate] = Field(default_factory=list)
    thumbnail_quality: float
    boxes: list[TrackBox] = Field(
        description="the box on each detection frame (every `stride`-th frame), at most "
        "`boxes_per_track` of them, evenly spread"
    )
    analysis: TrackAnalysis | None = None


class VideoResult(BaseModel):
    fps: float | None
    frames: int = Field(description="frames read")
    width: int
    height: int
    stride: int
    model: str
    collection: str | None
    fpir: float | None = Field(None, description="false-positive identification rate held")
    ended_early: str | None = Field(None, description="why the video ended before its end")
    tracks: list[TrackOut]


class JobOptions(BaseModel):
    collection: str | None
    stride: int
    max_frames: int
    analysis: bool


class JobOut(BaseModel):
    id: str
    kind: Literal["video"] = "video"
    status: JobStatus
    filename: str
    size_bytes: int
    options: JobOptions
    created_at: float = Field(description="Unix time")
    started_at: float | None = None
    finished_at: float | None = None
    progress: JobProgress
    queue_position: int | None = Field(None, description="jobs ahead of this one (queued only)")
    error: str | None = Field(None, description="why the job failed")
    result: VideoResult | None = Field(None, description="when done")


class JobDeleted(BaseModel):
    id: str
    status: JobStatus = Field(description="the job's status when it was removed")
    deleted: bool = True
