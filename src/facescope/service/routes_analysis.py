"""Facial analysis over REST: a photo analysed at once, a video as a job.

``POST /v1/analyze`` answers with every face's mesh, head pose, gaze, eye and
mouth openness, expressions, action units and quality (JSON), or with the
py-feat Fex-style table (``?format=csv``). ``POST /v1/jobs/video`` queues a short
video (see :mod:`facescope.service.jobs`: jobs live in this process's memory),
``GET /v1/jobs/{id}`` reports its progress and result, ``GET /v1/jobs`` lists the
caller's jobs and ``DELETE /v1/jobs/{id}`` cancels or forgets one.
"""

from __future__ import annotations

import math
import re
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import numpy as np
from fastapi import APIRouter, FastAPI, Query, Request, Response

from facescope.gallery.gallery import DEFAULT_FPIR
from facescope.service.context import ServiceContext
from facescope.service.errors import ApiError
from facescope.service.jobs import JobRunner, video_work
from facescope.service.routes_gallery import ctx
from facescope.service.schemas import ImageSize
from facescope.service.schemas_analysis import (
    AnalyzedFace,
    AnalyzeOptionsOut,
    AnalyzeResponse,
    ExpressionsOut,
    EyeOpenness,
    GazeOut,
    JobDeleted,
    JobOut,
    PoseOut,
    QualityOut,
)
from facescope.service.uploads import openapi_body, read_upload


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the job runner with the app; stop it (deleting every upload) on shutdown."""
    _runner(app)
    yield
    with _RUNNER_LOCK:
        runner: JobRunner | None = getattr(app.state, "jobs", None)
        app.state.jobs = None  # an app used again after shutdown gets a fresh runner
    if runner is not None:
        await anyio.to_thread.run_sync(runner.close)


router = APIRouter(prefix="/v1", tags=["analysis"], lifespan=_lifespan)

_RUNNER_LOCK = threading.Lock()
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def _runner(app: FastAPI) -> JobRunner:
    """The app's job runner (made at start-up, or on first use without a lifespan)."""
    with _RUNNER_LOCK:
        runner: JobRunner | None = getattr(app.state, "jobs", None)
        if runner is None:
            context: ServiceContext = app.state.ctx
            settings = context.settings
            runner = JobRunner(
                _upload_root(settings.data),
                partial(video_work, context),
                max_jobs=settings.max_jobs,
                keep_s=settings.job_keep_s,
                redact=context.redact,
                board=context.state,
            )
            app.state.jobs = runner
        return runner


def _upload_root(data: Path | str) -> Path:
    """Where job uploads wait: ``DATA/tmp/jobs``, or the system's temporary folder when
    the service keeps its data in a database (a URI, not a folder)."""
    if isinstance(data, Path):
        return data / "tmp" / "jobs"
    return Path(tempfile.gettempdir()) / "facescope-jobs"


def _safe_filename(name: str, default: str) -> str:
    """The upload's base name with only plain characters (CSV cells, headers, messages)."""
    base = Path(name.replace("\\", "/")).name
    clean = _SAFE_NAME.sub("_", base).strip(" .")[:120]
    return clean or default


# ---- a photo ----------------------------------------------------------------------------


def _num(value: float | None, digits: int = 4) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _points(array: Any, digits: int = 1) -> list[list[float]]:
    return [[round(float(v), digits) for v in row] for row in np.asarray(array, np.float64)]


def _face_out(face: Any, with_mesh: bool) -> AnalyzedFace:
    """One :class:`~facescope.analysis.result.FaceAnalysis` as the response's face."""
    from facescope.analysis.geometry import LEFT_IRIS, NOSE_TIP, RIGHT_IRIS

    box = [round(float(v), 1) for v in face.box]
    # the drawing geometry of facescope.analysis.plot: axes half the face long, gaze 0.6
    side = max(round(box[2]) - round(box[0]), round(box[3]) - round(box[1]), 1)
    mesh = None if face.mesh is None else np.asarray(face.mesh, np.float64)
    pose = gaze = None
    if face.pose is not None:
        axes: list[list[float]] = []
        if mesh is not None:
            origin = mesh[NOSE_TIP, :2]
            rotation = np.asarray(face.pose.rotation, np.float64)
            tips = [
                origin + sign * rotation[:2, column] * 0.5 * side
                for column, sign in ((0, 1.0), (1, 1.0), (2, -1.0))
            ]
            axes = _points([origin, *tips])
        pose = PoseOut(
            yaw=round(face.pose.yaw, 2),
            pitch=round(face.pose.pitch, 2),
            roll=round(face.pose.roll, 2),
            axes=axes,
        )
    if face.gaze is not None:
        rays: list[list[list[float]]] = []
        if mesh is not None:
            direction = np.asarray(face.gaze.vector, np.float64)[:2] * side * 0.6
            for iris in (RIGHT_IRIS, LEFT_IRIS):
                start = mesh[iris, :2]
                rays.append(_points([start, start + direction]))
        gaze = GazeOut(
            yaw=round(face.gaze.yaw, 2),
            pitch=round(face.gaze.pitch, 2),
            eye_yaw=round(face.gaze.eye_yaw, 2),
            eye_pitch=round(face.gaze.eye_pitch, 2),
            rays=rays,
        )
    expressions = None
    if face.expressions:
        expressions = ExpressionsOut(
            probabilities={k: round(float(v), 4) for k, v in face.expressions.items()},
            top=face.expression,
        )
    quality = None
    if face.quality is not None:
        q = face.quality
        components = {
            f.name: _num(getattr(q, f.name))
            for f in fields(q)
            if f.name not in ("score", "reasons") and isinstance(getattr(q, f.name), int | float)
        }
        quality = QualityOut(
            score=round(q.score, 4), reasons=list(q.reasons), components=components
        )
    return AnalyzedFace(
        face=face.face,
        box=box,
        detector_score=round(float(face.detector_score), 4),
        landmarks5=_points(face.landmarks5),
        mesh=_points(mesh) if with_mesh and mesh is not None else None,
        mesh_inside=_num(face.mesh_inside),
        landmarks68=_points(face.landmarks68) if face.landmarks68 is not None else None,
        pose=pose,
        gaze=gaze,
        eye_openness=(
            EyeOpenness(right=round(face.eye_openness[0], 4), left=round(face.eye_openness[1], 4))
            if face.eye_openness
            else None
        ),
        mouth_openness=_num(face.mouth_openness),
        expressions=expressions,
        valence=_num(face.valence),
        arousal=_num(face.arousal),
        action_units=(
            {k: round(float(v), 4) for k, v in face.action_units.items() if math.isfinite(v)}
            if face.action_units is not None
            else None
        ),
        quality=quality,
        missing=dict(face.missing),
    )


@router.post(
    "/analyze",
    response_model=AnalyzeResponse,
    summary="Facial analysis of a photo: mesh, head pose, gaze, expressions, AUs, quality",
    description=(
        "Every face (left to right): the 478-point mesh, head pose, gaze, eye and mouth "
        "openness, the 7 expression probabilities with valence and arousal, geometric "
        "action units and recognition quality. A measure that could not be made is absent "
        "and `missing` says why. `format=csv` answers the py-feat Fex-style table "
        "(`FaceRectX`..., `Pitch`/`Roll`/`Yaw`, `AU01`..., `anger`..., `input`) as a "
        "download. Needs read permission; audited."
    ),
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "JSON, or the CSV table with format=csv",
        }
    },
    openapi_extra=openapi_body(["image"]),
)
async def analyze(
    request: Request,
    format: Annotated[
        Literal["json", "csv"], Query(description="json, or csv: the Fex-style table")
    ] = "json",
    expressions: Annotated[bool, Query(description="run the expression models")] = True,
    landmarks68: Annotated[
        bool, Query(description="also dlib's 68 points (non-commercial data terms)")
    ] = False,
    mesh: Annotated[bool, Query(description="include the 478 mesh points in the JSON")] = True,
    max_faces: Annotated[
        int | None,
        Query(ge=1, le=1000, description="analyse at most this many faces, the largest"),
    ] = None,
) -> Any:
    from dataclasses import replace

    from facescope.analysis.analyzer import AnalyzeOptions, Analyzer

    context = ctx(request)
    caller = context.guard(request, "read")
    upload = await read_upload(request, ["image"])
    data, filename = upload.image("image")
    name = _safe_filename(filename, "image")
    limit = context.settings.max_faces
    wanted = min(max_faces, limit) if max_faces is not None else None
    options = AnalyzeOptions(
        expressions=expressions,
        landmarks68=landmarks68,
        # without max_faces, one more than the limit: enough to refuse a crowd
        max_faces=wanted if wanted is not None else limit + 1,
    )

    def work() -> Any:
        rgb = context.decode(data, "image")
        result = Analyzer(options).analyze(rgb)
        if wanted is None and len(result) > limit:
            raise ApiError(
                422, "too_many_faces", f"more than {limit} faces found; at most {limit} per image"
            )
        context.metrics.faces.labels("analyze").inc(len(result))
        return replace(result, source=name)

    async with context.audited_async(caller, "analyze", None) as detail:
        detail["source"] = filename
        result = await context.compute(work)
        detail["faces"] = len(result)
        detail["format"] = format
    if format == "csv":
        table = result.to_frame(landmark_columns=True if landmarks68 else None)
        stem = Path(name).stem or "image"
        return Response(
            table.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}_analysis.csv"'},
        )
    return AnalyzeResponse(
        image=ImageSize(width=result.width, height=result.height),
        options=AnalyzeOptionsOut(
            expressions=expressions,
            landmarks68=landmarks68,
            mesh=mesh,
            max_faces=wanted if wanted is not None else limit,
        ),
        faces=[_face_out(face, mesh) for face in result.faces],
    )


# ---- video jobs -------------------------------------------------------------------------


@router.post(
    "/jobs/video",
    status_code=202,
    response_model=JobOut,
    summary="Queue a short video: tracks, identities (with a collection), per-track analysis",
    description=(
        "Stores the upload (bounded by the body limit) under the data folder and queues a "
        "job; poll `GET /v1/jobs/{id}` for its progress and result. One job runs at a time "
        "per process; more than `max_jobs` queued or running answer 429 `job_queue_full`. "
        "Jobs live in this process's memory: a job id is unknown to another worker or after "
        "a restart. The upload is deleted when the job ends. Needs read permission (on the "
        "collection, when one is given); audited."
    ),
    openapi_extra=openapi_body(["video"]),
)
async def submit_video_job(
    request: Request,
    collection: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
            description="identify each track against this collection",
        ),
    ] = None,
    stride: Annotated[int, Query(ge=1, le=100, description="detect every stride-th frame")] = 1,
    max_frames: Annotated[
        int | None, Query(ge=1, description="read at most this many frames (capped by the service)")
    ] = None,
    analysis: Annotated[
        bool, Query(description="also summarise each track's facial analysis")
    ] = False,
    fpir: Annotated[
        float, Query(gt=0, lt=1, description="false-positive identification rate to hold")
    ] = DEFAULT_FPIR,
) -> JobOut:
    context = ctx(request)
    caller = context.guard(request, "read", collection)
    if collection is not None:
        context.collections.model(collection)  # 404 unknown_collection before the upload
    upload = await read_upload(request, ["video"])
    if "video" not in upload.images:
        raise ApiError(422, "missing_video", "the request has no 'video' file")
    data, filename = upload.image("video")
    name = _safe_filename(filename, "video")
    cap = context.settings.max_video_frames
    options: dict[str, Any] = {
        "collection": collection,
        "stride": stride,
        "max_frames": min(max_frames, cap) if max_frames is not None else cap,
        "analysis": analysis,
        "fpir": fpir,
    }
    runner = _runner(request.app)
    async with context.audited_async(caller, "video_job", collection) as detail:
        detail["source"] = filename
        job = await anyio.to_thread.run_sync(runner.submit, caller.name, data, name, options)
        detail["job"] = job["id"]
    return _job_out(job)


def _job_out(job: dict[str, Any]) -> JobOut:
    options = {k: v for k, v in job["options"].items() if k != "fpir"}
    return JobOut.model_validate({**job, "options": options})


@router.get("/jobs", response_model=list[JobOut], summary="The caller's jobs, newest first")
def list_jobs(request: Request) -> list[JobOut]:
    context = ctx(request)
    caller = context.guard(request, "read")
    return [_job_out(job) for job in _runner(request.app).list(caller.name)]


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="A job's status, progress and, when done, its result",
    responses={404: {"description": "unknown job (or another caller's, or another process's)"}},
)
def get_job(request: Request, job_id: str) -> JobOut:
    context = ctx(request)
    caller = context.guard(request, "read")
    return _job_out(_runner(request.app).get(job_id, caller.name))


@router.delete(
    "/jobs/{job_id}",
    response_model=JobDeleted,
    summary="Cancel a queued or running job, or forget a finished one; deletes its upload",
)
def delete_job(request: Request, job_id: str) -> JobDeleted:
    context = ctx(request)
    caller = context.guard(request, "read")
    status = _runner(request.app).delete(job_id, caller.name)
    return JobDeleted(id=job_id, status=status)  # type: ignore[arg-type]
