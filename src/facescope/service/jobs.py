"""Background jobs: a short video uploaded, processed in a worker thread, polled for progress.

``POST /v1/jobs/video`` stores the upload in a private folder under the data
folder (``DATA/tmp/jobs/<process token>/``; the system temporary folder
when the data is a database) and queues a :class:`Job`; one worker
thread per process runs the jobs one at a time, oldest first. The upload is
deleted as soon as its job ends, whichever way it ends (done, failed, cancelled
or the service shutting down), and the folder when the service stops.

**A job runs in the process that took its upload, and every process answers for it.**
Its state is published on the *job board* of the service's store (``service.sqlite3``
of the data folder, or the PostgreSQL database): when it is queued, starts and ends,
and at most every :data:`PUBLISH_EVERY_S` seconds of progress. So behind several
workers or replicas, polling a job through any of them answers (progress at most that
stale); deleting it through any of them stops it at its next progress check. Finished
jobs are kept for ``job_keep_s`` seconds (and at most :data:`MAX_FINISHED` of them in
the process's memory), then forgotten. Ids are 128-bit
random tokens (:func:`secrets.token_urlsafe`), and a job is visible only to the
caller (API key, or client address on a keyless loopback service) who submitted it.

:func:`video_work` is the work of a video job: track the faces (the
:class:`~facescope.video.recognizer.VideoRecognizer` of ``facescope video``),
identify each track against a collection when one is given, and, with
``analysis``, summarise each track's facial analysis.
"""

from __future__ import annotations

import logging
import math
import secrets
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError
from facescope.service.errors import ApiError

if TYPE_CHECKING:
    from facescope.analysis.result import FaceAnalysis
    from facescope.service.context import ServiceContext

log = logging.getLogger("facescope.service.jobs")

#: Finished jobs kept per process (the oldest are forgotten first).
MAX_FINISHED = 64
#: Seconds between two publications of a running job's progress on the job board.
PUBLISH_EVERY_S = 1.0
#: Upload folders of other processes older than this are removed at start-up
#: (left behind by a process that was killed).
STALE_FOLDER_S = 24 * 3600.0
#: Boxes listed per track in a result (evenly spread over its detections).
BOXES_PER_TRACK = 200
#: Suffixes kept on the stored upload (a hint for the demuxer); others become ``.bin``.
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")

FINISHED = ("done", "failed", "cancelled")


class JobCancelledError(Exception):
    """Raised inside a job's work when the job was cancelled (checked at each progress)."""


@dataclass
class Job:
    """One job's state; read it through :meth:`JobRunner.snapshot`."""

    id: str
    owner: str
    filename: str
    size_bytes: int
    options: dict[str, Any]
    path: Path
    created_at: float = field(default_factory=time.time)
    status: str = "queued"
    started_at: float | None = None
    finished_at: float | None = None
    frames_done: int = 0
    frames_total: int | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    #: called at each progress (publishes it now and then; sets `cancel` when the job
    #: was deleted through another process)
    on_progress: Callable[[], None] | None = field(default=None, repr=False)
    #: monotonic time of the last publication on the job board
    published_at: float = field(default=0.0, repr=False)

    def progress(self, done: int, total: int | None) -> None:
        """Record progress; raises :class:`JobCancelledError` once the job is cancelled."""
        self.frames_done = done
        self.frames_total = total
        if self.on_progress is not None:
            self.on_progress()
        if self.cancel.is_set():
            raise JobCancelledError


Work = Callable[[Job], dict[str, Any]]


class JobRunner:
    """A queue of jobs and the one thread that runs them; in memory, per process."""

    def __init__(
        self,
        root: Path,
        work: Work,
        *,
        max_jobs: int,
        keep_s: float,
        redact: Callable[[str], str] = lambda text: text,
        board: Any = None,
    ) -> None:
        self._parent = Path(root)
        self.folder = self._parent / secrets.token_hex(8)
        self._work = work
        self.max_jobs = max_jobs
        self.keep_s = keep_s
        self._redact = redact
        #: the shared job board (ServiceState or PostgresServiceState), or None
        self._board = board
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._sweep_stale()
        self._thread = threading.Thread(target=self._run, name="facescope-jobs", daemon=True)
        self._thread.start()

    # ---- requests -------------------------------------------------------------------

    def submit(
        self, owner: str, data: bytes, filename: str, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Store the upload and queue a job; 429 ``job_queue_full`` over ``max_jobs``."""
        job_id = secrets.token_urlsafe(16)
        suffix = Path(filename).suffix.lower()
        suffix = suffix if suffix in VIDEO_SUFFIXES else ".bin"
        with self._lock:
            if self._stopping:
                raise ApiError(503, "shutting_down", "the service is stopping; retry later")
            self._prune()
            pending = sum(job.status in ("queued", "running") for job in self._jobs.values())
            if pending >= self.max_jobs:
                raise ApiError(
                    429,
                    "job_queue_full",
                    f"{pending} jobs are queued or running, the limit of this service; "
                    "retry when one has finished",
                    {"Retry-After": "10"},
                )
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self.folder / f"{job_id}{suffix}"
            with open(path, "xb") as handle:  # a fresh random name: never an existing file
                handle.write(data)
            job = Job(job_id, owner, filename, len(data), dict(options), path)
            job.on_progress = lambda: self._progressed(job)
            self._jobs[job_id] = job
            self._queue.append(job)
            snapshot = self._snapshot(job)
            if self._board is not None:
                # published under the lock: the worker cannot start it (and update it) first
                self._board_call("job_prune", self.keep_s)
                self._board_call("job_create", job_id, owner, snapshot)
            self._wake.notify()
            return snapshot

    def get(self, job_id: str, owner: str) -> dict[str, Any]:
        """A job's state: this process's own, or the one another process published."""
        with self._lock:
            self._prune()
            job = self._jobs.get(job_id)
            if job is not None:
                self._find(job_id, owner)
        if job is not None and self._gone(job):
            with self._lock:
                self._jobs.pop(job_id, None)  # deleted through another process
            job.cancel.set()
            raise ApiError(404, "unknown_job", "unknown job id")
        if job is not None:
            with self._lock:
                return self._snapshot(job)
        return self._published(job_id, owner)

    def _gone(self, job: Job) -> bool:
        """Whether `job` was deleted from the job board (through another process)."""
        if self._board is None:
            return False
        try:
            return self._board.job_get(job.id) is None
        except Exception:
            log.exception("job board: job_get failed")
            return False  # the board is down: this process still knows its job

    def list(self, owner: str) -> list[dict[str, Any]]:
        """The caller's jobs (taken by any process), newest first."""
        shared = {
            item["id"]: item
            for item in (self._board_call("job_list", owner) or [])
            if isinstance(item, dict) and "id" in item
        }
        with self._lock:
            self._prune()
            for job in self._jobs.values():
                if job.owner == owner:
                    shared[job.id] = self._snapshot(job)  # ours is the freshest
        return sorted(shared.values(), key=lambda item: -float(item.get("created_at") or 0.0))

    def delete(self, job_id: str, owner: str) -> str:
        """Cancel (queued or running) or forget (finished) a job; return its status then.

        The job is gone at once, through any process; a running job stops at its next
        frame (its process learns of it at its next progress check), and its upload is
        deleted by the process that holds it.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job = self._find(job_id, owner)
                status = job.status
                del self._jobs[job_id]
                job.cancel.set()
                if job.status == "queued":
                    self._queue.remove(job)
                    job.status = "cancelled"
                    job.finished_at = time.time()
                    _remove(job.path)
                self._board_call("job_drop", job_id)
                return status
        status = str(self._published(job_id, owner).get("status"))
        self._board_call("job_drop", job_id)
        return status

    def _published(self, job_id: str, owner: str) -> dict[str, Any]:
        """The state another process published for the caller's job; 404 otherwise."""
        found = self._board_call("job_get", job_id)
        if not found or not secrets.compare_digest(str(found[0]), owner):
            raise ApiError(404, "unknown_job", "unknown job id")
        snapshot = dict(found[1])
        snapshot["queue_position"] = None  # known to the process that holds the queue
        return snapshot

    def _board_call(self, method: str, *args: Any) -> Any:
        """Call the job board; a failure is logged, never fatal to a job or a request."""
        if self._board is None:
            return None
        try:
            return getattr(self._board, method)(*args)
        except Exception:
            log.exception("job board: %s failed", method)
            return None

    def _publish(self, job: Job) -> None:
        """Publish `job`'s state now; a job deleted through another process is cancelled."""
        if self._board is None:
            return
        with self._lock:
            snapshot = self._snapshot(job)
        job.published_at = time.monotonic()
        if self._board_call("job_update", job.id, snapshot, job.status in FINISHED) is False:
            job.cancel.set()

    def _progressed(self, job: Job) -> None:
        if time.monotonic() - job.published_at >= PUBLISH_EVERY_S:
            self._publish(job)

    def close(self, timeout: float = 30.0) -> None:
        """Cancel every job, stop the worker, delete the uploads and their folder."""
        with self._lock:
            self._stopping = True
            for job in self._jobs.values():
                job.cancel.set()
            self._queue.clear()
            self._wake.notify_all()
        self._thread.join(timeout)
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---- the worker -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                job.status = "running"
                job.started_at = time.time()
            self._publish(job)
            status, result, error = "done", None, None
            try:
                result = self._work(job)
            except JobCancelledError:
                status = "cancelled"
            except ApiError as exc:
                status, error = "failed", exc.message
            except FacescopeError as exc:
                status, error = "failed", str(exc)
            except Exception:  # a job must never take the server down
                log.exception("video job %s failed", job.id)
                status, error = "failed", "internal error while processing the video"
            finally:
                _remove(job.path)
            if error is not None:
                error = self._redact(error.replace(str(job.path), job.filename))
            with self._lock:
                if job.cancel.is_set() and status == "done":
                    status = "cancelled"
                job.status, job.result, job.error = status, result, error
                job.finished_at = time.time()
            self._publish(job)

    # ---- helpers (under the lock) ---------------------------------------------------

    def _find(self, job_id: str, owner: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or not secrets.compare_digest(job.owner, owner):
            # another caller's job is as unknown as one that never existed
            raise ApiError(404, "unknown_job", "unknown job id")
        return job

    def _prune(self) -> None:
        now = time.time()
        finished = sorted(
            (job for job in self._jobs.values() if job.status in FINISHED),
            key=lambda j: j.finished_at or 0.0,
        )
        for index, job in enumerate(finished):
            expired = now - (job.finished_at or now) > self.keep_s
            if expired or index < len(finished) - MAX_FINISHED:
                del self._jobs[job.id]

    def _snapshot(self, job: Job) -> dict[str, Any]:
        total = job.frames_total
        position = None
        if job.status == "queued":
            position = next((i for i, queued in enumerate(self._queue) if queued is job), None)
        return {
            "id": job.id,
            "status": job.status,
            "filename": job.filename,
            "size_bytes": job.size_bytes,
            "options": dict(job.options),
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "progress": {
                "frames_done": job.frames_done,
                "frames_total": total,
                "fraction": min(1.0, job.frames_done / total) if total else None,
            },
            "queue_position": position,
            "error": job.error,
            "result": job.result,
        }

    def _sweep_stale(self) -> None:
        """Remove upload folders that killed processes left behind (older than a day)."""
        if not self._parent.is_dir():
            return
        now = time.time()
        for folder in self._parent.iterdir():
            try:
                if folder.is_dir() and now - folder.stat().st_mtime > STALE_FOLDER_S:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.warning("cannot delete the job upload %s", path)


# ---- the work of a video job ----------------------------------------------------------


@dataclass
class _TrackSummary:
    """Running sums of one track's analysed detections."""

    frames: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    expressions: dict[str, float] = field(default_factory=dict)
    expression_frames: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    blinks: Any = None

    def add(self, name: str, value: float | None) -> None:
        if value is not None and math.isfinite(value):
            self.sums[name] = self.sums.get(name, 0.0) + float(value)
            self.counts[name] = self.counts.get(name, 0) + 1

    def mean(self, name: str) -> float | None:
        count = self.counts.get(name, 0)
        return round(self.sums[name] / count, 4) if count else None

    def update(self, face: FaceAnalysis, time: float) -> None:
        self.frames += 1
        if face.pose is not None:
            self.add("yaw", face.pose.yaw)
            self.add("pitch", face.pose.pitch)
            self.add("roll", face.pose.roll)
        if face.gaze is not None:
            self.add("gaze_yaw", face.gaze.yaw)
            self.add("gaze_pitch", face.gaze.pitch)
        ear = float(np.mean(face.eye_openness)) if face.eye_openness else None
        self.add("eye_openness", ear)
        self.add("mouth_openness", face.mouth_openness)
        self.add("valence", face.valence)
        self.add("arousal", face.arousal)
        self.add("quality", face.quality.score if face.quality is not None else None)
        if face.expressions:
            self.expression_frames += 1
            for name, p in face.expressions.items():
                self.expressions[name] = self.expressions.get(name, 0.0) + float(p)
        for name in face.missing:
            self.missing[name] = self.missing.get(name, 0) + 1
        if self.blinks is not None:
            self.blinks.update(time, ear)

    def to_dict(self) -> dict[str, Any]:
        expressions = (
            {k: round(v / self.expression_frames, 4) for k, v in self.expressions.items()}
            if self.expression_frames
            else None
        )
        return {
            "frames": self.frames,
            **{
                name: self.mean(name)
                for name in (
                    "yaw",
                    "pitch",
                    "roll",
                    "gaze_yaw",
                    "gaze_pitch",
                    "eye_openness",
                    "mouth_openness",
                    "valence",
                    "arousal",
                    "quality",
                )
            },
            "expressions": expressions,
            "top_expression": max(expressions, key=expressions.__getitem__)
            if expressions
            else None,
            "blinks": len(self.blinks.blinks_) if self.blinks is not None else 0,
            "missing": dict(self.missing),
        }


def _iou(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def _spread(items: list[Any], most: int) -> list[Any]:
    """At most `most` of `items`, evenly spread, the first and last kept."""
    if len(items) <= most:
        return items
    picks = np.linspace(0, len(items) - 1, most).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def video_work(context: ServiceContext, job: Job) -> dict[str, Any]:
    """Track (and identify, and analyse) the faces of a job's video; the result document.

    Runs in the job thread, outside the service's request limiter: one job at a
    time per process. The collection's lock is held only for the final
    identification of the tracks' mean embeddings, never while decoding.
    """
    from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
    from facescope.analysis.eyes import BlinkDetector
    from facescope.gallery.gallery import DEFAULT_FPIR
    from facescope.io.video import VideoSource
    from facescope.video.recognizer import TrackResult, VideoRecognizer

    options = job.options
    collection: str | None = options.get("collection")
    stride = int(options["stride"])
    max_frames = int(options["max_frames"])
    settings = context.settings
    model = context.collections.model(collection) if collection else settings.model
    recognizer = VideoRecognizer(None, model=model, stride=stride)
    analyzer = (
        Analyzer(AnalyzeOptions(max_faces=settings.max_faces)) if options.get("analysis") else None
    )
    ended: list[TrackResult] = []
    boxes: dict[int, list[dict[str, Any]]] = {}
    summaries: dict[int, _TrackSummary] = {}
    with VideoSource(job.path, max_frames=max_frames, max_pixels=settings.max_pixels) as video:
        total = video.frame_count
        total = min(total, max_frames) if total is not None else None
        job.progress(0, total)
        seen = 0
        for tracked in recognizer.frames(video, ended.append):
            seen += 1
            if tracked.detected:
                ids = tracked.track_ids.tolist()
                for track_id, box in zip(ids, tracked.faces.boxes, strict=True):
                    if track_id >= 0:
                        boxes.setdefault(track_id, []).append(
                            {
                                "frame": tracked.index,
                                "time": round(tracked.time, 3),
                                "box": [round(float(v), 1) for v in box],
                            }
                        )
                if analyzer is not None and any(t >= 0 for t in ids):
                    frame = analyzer.analyze(tracked.rgb)
                    for face in frame.faces:
                        best, overlap = -1, 0.5  # the tracked face it overlaps most, IoU >= 0.5
                        for track_id, box in zip(ids, tracked.faces.boxes, strict=True):
                            value = _iou(np.asarray(face.box), box)
                            if track_id >= 0 and value >= overlap:
                                best, overlap = track_id, value
                        if best >= 0:
                            summary = summaries.get(best)
                            if summary is None:
                                summary = summaries[best] = _TrackSummary(blinks=BlinkDetector())
                            summary.update(face, tracked.time)
            job.progress(seen, total)
        info = {
            "fps": video.fps,
            "width": video.width,
            "height": video.height,
            "ended_early": video.ended_early,
        }
    ended.sort(key=lambda r: (r.start, r.track_id))
    fpir = float(options.get("fpir") or DEFAULT_FPIR)
    decisions: list[Any] = [None] * len(ended)
    if collection and ended:
        last_boxes = np.array(
            [
                boxes[r.track_id][-1]["box"] if boxes.get(r.track_id) else [0, 0, 1, 1]
                for r in ended
            ],
            np.float32,
        )
        probes = np.stack([r.embedding for r in ended]).astype(np.float32)
        with context.collections.use(collection) as gallery:
            if len(gallery):
                decisions = list(
                    gallery.identify_embeddings(last_boxes, probes, top_k=3, fpir=fpir)
                )
    tracks = []
    for result, decision in zip(ended, decisions, strict=True):
        summary = summaries.get(result.track_id)
        tracks.append(
            {
                "track_id": result.track_id,
                "first_frame": result.first_frame,
                "last_frame": result.last_frame,
                "start": round(result.start, 3),
                "end": round(result.end, 3),
                "detections": result.detections,
                "identity": decision.identity if decision else None,
                "score": round(decision.score, 6) if decision else None,
                "threshold": round(decision.threshold, 6) if decision else None,
                "candidates": [
                    {"identity": c.identity, "score": round(c.score, 6)}
                    for c in (decision.candidates if decision else [])
                ],
                "thumbnail_quality": round(result.thumbnail_quality, 4),
                "boxes": _spread(boxes.get(result.track_id, []), BOXES_PER_TRACK),
                "analysis": summary.to_dict() if summary is not None else None,
            }
        )
    return {
        **info,
        "frames": seen,
        "stride": stride,
        "model": model,
        "collection": collection,
        "fpir": fpir if collection else None,
        "tracks": tracks,
    }
