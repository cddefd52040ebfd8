"""The photo library over REST: the people found in a library of photos (clusters).

The library is a :class:`~facescope.cluster.library.FaceLibrary` folder: by
default ``<data>/library``, else ``facescope serve --library DIR`` (so a library
made with ``facescope cluster PHOTOS --library DIR`` can be served). Photos are
uploaded here (their faces are detected, embedded and clustered; the photos
themselves are not kept, only a 112x112 thumbnail of each face), or added by the
CLI. People are then named, split, merged (merge suggestions are accepted or
rejected) and promoted into a gallery collection.

Reading needs the ``read`` scope; every change needs ``enrol`` (promoting: on
the target collection) and is written to the audit log.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path as FilePath
from pathlib import PureWindowsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.datastructures import UploadFile

from facescope.cluster.incremental import DEFAULT_EPS, DEFAULT_MIN_FACES
from facescope.cluster.library import (
    ClusterError,
    ClusterInfo,
    ClusterReport,
    FaceInfo,
    FaceLibrary,
    UnknownClusterError,
    UnknownFaceError,
    library_file,
)
from facescope.errors import FacescopeError
from facescope.gallery.templates import content_hash
from facescope.service.collections import check_name
from facescope.service.context import ServiceContext
from facescope.service.errors import ApiError, as_api_error
from facescope.service.routes_gallery import check_subject, ctx
from facescope.service.schemas_library import (
    ClusterDetail,
    ClusterOut,
    ClusterRun,
    LibraryFace,
    LibrarySummary,
    MergeRequest,
    PromoteRequest,
    PromoteResponse,
    RejectResponse,
    RenameRequest,
    SplitRequest,
    SplitResponse,
    SuggestionOut,
    UploadResponse,
)
from facescope.service.uploads import MAX_FIELD_BYTES, MAX_FIELDS, parse_json
from facescope.service.uploads import _decode_base64 as decode_base64

router = APIRouter(prefix="/v1/library", tags=["library"])

#: Most photos one upload request may carry (the body limit applies too).
MAX_FILES = 100
#: Thumbnails are revalidated (ETag) on each use: a library made again reuses face ids.
THUMBNAIL_CACHE = "private, no-cache"

ClusterId = Annotated[int, Path(ge=1, le=2**62, description="cluster id")]
FaceId = Annotated[int, Path(ge=1, le=2**62, description="face id")]
EpsQuery = Annotated[
    float,
    Query(
        gt=0.0,
        lt=2.0,
        description="cosine distance of neighbouring faces "
        f"({DEFAULT_EPS:g} = similarity {1 - DEFAULT_EPS:g})",
    ),
]
MinFacesQuery = Annotated[
    int, Query(ge=1, le=1000, description="similar faces needed to start a new person")
]

# one writer at a time per library (SQLite would serialise them anyway; this keeps a
# duplicate upload from racing its twin into the UNIQUE constraint)
_LOCKS: dict[FilePath, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(path: FilePath) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.absolute(), threading.Lock())


def _path(context: ServiceContext) -> FilePath:
    return context.settings.library_path


def _exists(context: ServiceContext) -> bool:
    return library_file(_path(context)).is_file()


@contextmanager
def _open(context: ServiceContext) -> Iterator[FaceLibrary]:
    """The library, opened (created if new) for this thread; its path never leaks."""
    folder = _path(context)
    try:
        library = FaceLibrary.open(folder)
    except ClusterError as exc:
        raise ClusterError(str(exc).replace(str(library_file(folder)), "the library")) from None
    try:
        yield library
    finally:
        library.close()


@contextmanager
def _writing(context: ServiceContext) -> Iterator[FaceLibrary]:
    with _lock(_path(context)), _open(context) as library:
        yield library


# ---- views ------------------------------------------------------------------------


def _file_name(path: str) -> str:
    """The file name of a stored source path (the server's folders are not shown)."""
    return PureWindowsPath(path).name or path


def _face_out(face: FaceInfo) -> LibraryFace:
    return LibraryFace(
        id=face.id,
        cluster_id=face.cluster_id,
        source=_file_name(face.source),
        box=None if face.box is None else [round(v, 1) for v in face.box],
        frame=face.frame,
        time=face.time,
        quality=round(face.quality, 4),
        thumbnail=f"{router.prefix}/faces/{face.id}/thumbnail",
    )


def _cluster_out(info: ClusterInfo, representatives: dict[int, int]) -> ClusterOut:
    return ClusterOut(
        id=info.id,
        name=info.name,
        size=info.size,
        representative=representatives.get(info.id),
        promoted=info.subject is not None,
        subject=info.subject,
        created_at=info.created_at,
    )


def _one(library: FaceLibrary, cluster_id: int) -> ClusterOut:
    return _cluster_out(library.cluster_info(cluster_id), library.representatives())


def _run_out(report: ClusterReport) -> ClusterRun:
    return ClusterRun(
        processed=report.processed,
        joined=report.joined,
        new_clusters=report.new_clusters,
        new_faces=report.new_faces,
        noise=report.noise,
        suggestions=len(report.suggestions),
        eps=report.eps,
        min_faces=report.min_faces,
    )


# ---- reading ----------------------------------------------------------------------


@router.get("", response_model=LibrarySummary, summary="What the photo library holds")
def summary(request: Request) -> LibrarySummary:
    context = ctx(request)
    context.guard(request, "read")
    if not _exists(context):
        return LibrarySummary(
            library=False,
            files=0,
            faces=0,
            clustered=0,
            unclustered=0,
            clusters=0,
            suggestions=0,
            model_version=None,
        )
    with _open(context) as library:
        counts = library.counts()
        return LibrarySummary(
            library=True,
            files=counts["files"],
            faces=counts["faces"],
            clustered=counts["clustered"],
            unclustered=counts["faces"] - counts["clustered"],
            clusters=counts["clusters"],
            suggestions=len(library.suggestions()),
            model_version=library.model_version,
        )


@router.get(
    "/clusters",
    response_model=list[ClusterOut],
    summary="The people (clusters) of the library, largest first",
)
def list_clusters(request: Request) -> list[ClusterOut]:
    context = ctx(request)
    context.guard(request, "read")
    if not _exists(context):
        return []
    with _open(context) as library:
        representatives = library.representatives()
        return [_cluster_out(c, representatives) for c in library.clusters()]


@router.get(
    "/clusters/{cluster_id}",
    response_model=ClusterDetail,
    summary="One person (cluster) with its faces",
)
def get_cluster(request: Request, cluster_id: ClusterId) -> ClusterDetail:
    context = ctx(request)
    context.guard(request, "read")
    if not _exists(context):
        raise UnknownClusterError(f"unknown cluster {cluster_id}")
    with _open(context) as library:
        out = _one(library, cluster_id)
        faces = [_face_out(f) for f in library.faces(cluster_id)]
    return ClusterDetail(**out.model_dump(), faces=faces)


@router.get("/faces/{face_id}", response_model=LibraryFace, summary="One face of the library")
def get_face(request: Request, face_id: FaceId) -> LibraryFace:
    context = ctx(request)
    context.guard(request, "read")
    if not _exists(context):
        raise UnknownFaceError(f"unknown face {face_id}")
    with _open(context) as library:
        return _face_out(library.face(face_id))


@router.get(
    "/faces/{face_id}/thumbnail",
    response_class=Response,
    summary="A face's thumbnail (JPEG, 112x112 for photos)",
    responses={200: {"content": {"image/jpeg": {"schema": {"type": "string"}}}}},
)
def face_thumbnail(request: Request, face_id: FaceId) -> Response:
    context = ctx(request)
    context.guard(request, "read")
    if not _exists(context):
        raise UnknownFaceError(f"unknown face {face_id}")
    with _open(context) as library:
        data = library.thumbnail_jpeg(face_id)
    if data is None:
        raise ApiError(
            404, "no_thumbnail", f"face {face_id} has no thumbnail (added as an embedding)"
        )
    headers = {
        "Cache-Control": THUMBNAIL_CACHE,
        "ETag": f'"{hashlib.sha256(data).hexdigest()[:32]}"',
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/jpeg", headers=headers)


@router.get(
    "/suggestions",
    response_model=list[SuggestionOut],
    summary="Pairs of people that may be one person (merge suggestions), strongest first",
)
def list_suggestions(request: Request) -> list[SuggestionOut]:
    context = ctx(request)
    context.guard(request, "read")
    if not _exists(context):
        return []
    with _open(context) as library:
        found = library.suggestions()
        if not found:
            return []
        representatives = library.representatives()
        clusters = {c.id: c for c in library.clusters()}
        return [
            SuggestionOut(
                a=s.a,
                b=s.b,
                score=s.score,
                faces=s.faces,
                clusters=[
                    _cluster_out(clusters[s.a], representatives),
                    _cluster_out(clusters[s.b], representatives),
                ],
            )
            for s in found
            if s.a in clusters and s.b in clusters
        ]


# ---- adding photos ----------------------------------------------------------------


def _upload_name(name: str | None, index: int) -> str:
    """A safe display name for an uploaded file: its base name, printable, bounded."""
    base = PureWindowsPath(name or "").name.strip()
    base = "".join(ch for ch in base if ch.isprintable())[:200]
    return base or f"photo {index + 1}"


async def _read_photos(request: Request) -> list[tuple[bytes, str]]:
    """The photos of an upload: multipart ``image`` parts, or JSON base64 ``images``."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    photos: list[tuple[bytes, str]] = []
    if kind == "multipart/form-data":
        try:
            form = await request.form(
                max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
            )
        except Exception as exc:  # starlette raises its own MultiPartException
            raise ApiError(
                400, "invalid_multipart", f"cannot parse the multipart body: {exc}"
            ) from None
        try:
            for name, value in form.multi_items():
                if not isinstance(value, UploadFile):
                    continue
                if name not in ("image", "images"):
                    raise ApiError(422, "invalid_request", f"unexpected file field {name!r}")
                data = await value.read()
                photos.append((data, _upload_name(value.filename, len(photos))))
        finally:
            await form.close()
    elif kind == "application/json":
        document = parse_json(await request.body(), "the body")
        if not isinstance(document, dict):
            raise ApiError(422, "invalid_request", "the JSON body must be an object")
        images = document.get("images", [document["image"]] if "image" in document else [])
        names = document.get("names") or []
        if not isinstance(images, list) or not isinstance(names, list):
            raise ApiError(422, "invalid_request", "images and names must be lists")
        if len(images) > MAX_FILES:
            raise ApiError(422, "invalid_request", f"at most {MAX_FILES} photos per request")
        for index, value in enumerate(images):
            given = names[index] if index < len(names) and isinstance(names[index], str) else None
            photos.append((decode_base64(f"images[{index}]", value), _upload_name(given, index)))
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send multipart/form-data (file parts named image) or application/json "
            '({"images": [base64, ...], "names": [...]})',
        )
    if not photos:
        raise ApiError(422, "missing_image", "the request has no photo (file parts named image)")
    return photos


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": f"photos (repeat the part), at most {MAX_FILES}",
                        }
                    },
                    "required": ["image"],
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "images": {
                            "type": "array",
                            "items": {"type": "string", "description": "a photo, base64"},
                        },
                        "names": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["images"],
                }
            },
        },
    }
}


@router.post(
    "/photos",
    response_model=UploadResponse,
    status_code=201,
    summary="Add photos: their faces are detected, embedded and clustered",
    openapi_extra=_UPLOAD_BODY,
)
async def add_photos(
    request: Request,
    cluster: Annotated[
        bool,
        Query(description="cluster the new faces now (false: later, with POST /cluster)"),
    ] = True,
    eps: EpsQuery = DEFAULT_EPS,
    min_faces: MinFacesQuery = DEFAULT_MIN_FACES,
) -> UploadResponse:
    context = ctx(request)
    caller = context.guard(request, "enrol")
    photos = await _read_photos(request)

    def work() -> UploadResponse:
        added: list[str] = []
        skipped: list[str] = []
        failed: dict[str, str] = {}
        errors: list[ApiError] = []
        face_ids: list[int] = []
        with _writing(context) as library:
            for data, name in photos:
                try:
                    if not data:
                        raise ApiError(400, "invalid_image", f"{name}: the image is empty")
                    rgb = context.decode(data, name)
                    faces = context.faces(rgb, "library")
                    ids = library.add_photo(
                        rgb, name, content_hash(rgb), faces=faces, size=len(data)
                    )
                except (ApiError, FacescopeError) as exc:
                    error = as_api_error(exc)
                    errors.append(error)
                    failed[name] = context.redact(error.message)
                    continue
                if ids is None:
                    skipped.append(name)
                else:
                    added.append(name)
                    face_ids.extend(ids)
            if errors and len(errors) == len(photos):
                raise errors[0]  # nothing could be added: the request failed
            report = library.cluster(eps, min_faces) if cluster else None
            faces_out = [_face_out(f) for f in library.faces_by_id(face_ids)]
            representatives = library.representatives()
            touched = sorted({f.cluster_id for f in faces_out if f.cluster_id is not None})
            clusters = [_cluster_out(library.cluster_info(c), representatives) for c in touched]
        return UploadResponse(
            added=added,
            skipped=skipped,
            failed=failed,
            faces=faces_out,
            clusters=clusters,
            cluster=None if report is None else _run_out(report),
        )

    async with context.audited_async(caller, "library_add", None) as detail:
        response = await context.compute(work)
        detail.update(
            added=response.added,
            skipped=response.skipped,
            failed=sorted(response.failed),
            face_ids=[f.id for f in response.faces],
        )
    return response


@router.post(
    "/cluster",
    response_model=ClusterRun,
    summary="Cluster the faces that have no person yet (existing people never change)",
)
async def cluster_faces(
    request: Request,
    eps: EpsQuery = DEFAULT_EPS,
    min_faces: MinFacesQuery = DEFAULT_MIN_FACES,
) -> ClusterRun:
    context = ctx(request)
    caller = context.guard(request, "enrol")

    def work() -> ClusterRun:
        with _writing(context) as library:
            return _run_out(library.cluster(eps, min_faces))

    async with context.audited_async(caller, "library_cluster", None) as detail:
        run = await context.compute(work)
        detail.update(new_clusters=run.new_clusters, joined=run.joined, noise=run.noise)
    return run


# ---- editing ----------------------------------------------------------------------


@router.patch("/clusters/{cluster_id}", response_model=ClusterOut, summary="Rename a person")
def rename_cluster(request: Request, cluster_id: ClusterId, body: RenameRequest) -> ClusterOut:
    context = ctx(request)
    caller = context.guard(request, "enrol")
    name = None if body.name is None else check_subject(body.name.strip() or body.name)
    with context.audited(caller, "library_rename", None, name) as detail:
        detail["cluster"] = cluster_id
        with _writing(context) as library:
            library.rename(cluster_id, name)
            return _one(library, cluster_id)


@router.post(
    "/clusters/{cluster_id}/split",
    response_model=SplitResponse,
    status_code=201,
    summary="Move some faces of a person into a new person",
)
def split_cluster(request: Request, cluster_id: ClusterId, body: SplitRequest) -> SplitResponse:
    context = ctx(request)
    caller = context.guard(request, "enrol")
    with context.audited(caller, "library_split", None) as detail:
        detail.update(cluster=cluster_id, face_ids=sorted(set(body.face_ids)))
        with _writing(context) as library:
            new_id = library.split(cluster_id, body.face_ids)
            detail["new_cluster"] = new_id
            return SplitResponse(
                cluster=_one(library, cluster_id), new_cluster=_one(library, new_id)
            )


def _merge(library: FaceLibrary, keep: int, other: int) -> ClusterOut:
    library.merge(keep, other)
    return _one(library, keep)


@router.post(
    "/clusters/{cluster_id}/merge",
    response_model=ClusterOut,
    summary="Merge another person into this one (it keeps this id)",
)
def merge_clusters(request: Request, cluster_id: ClusterId, body: MergeRequest) -> ClusterOut:
    context = ctx(request)
    caller = context.guard(request, "enrol")
    with context.audited(caller, "library_merge", None) as detail:
        detail.update(cluster=cluster_id, merged=body.other)
        with _writing(context) as library:
            return _merge(library, cluster_id, body.other)


def _keeper(first: ClusterInfo, second: ClusterInfo) -> tuple[int, int]:
    """(keep, merge) for an accepted suggestion: the promoted, else named, else larger one."""

    def rank(c: ClusterInfo) -> tuple[bool, bool, int, int]:
        return (c.subject is not None, c.name is not None, c.size, -c.id)

    keep, other = sorted((first, second), key=rank, reverse=True)
    return keep.id, other.id


@router.post(
    "/suggestions/{a}/{b}/accept",
    response_model=ClusterOut,
    summary="Accept a merge suggestion: one person (the promoted, named or larger keeps its id)",
)
def accept_suggestion(request: Request, a: ClusterId, b: ClusterId) -> ClusterOut:
    context = ctx(request)
    caller = context.guard(request, "enrol")
    with context.audited(caller, "library_merge", None) as detail:
        detail.update(suggestion=[a, b])
        with _writing(context) as library:
            keep, other = _keeper(library.cluster_info(a), library.cluster_info(b))
            detail.update(cluster=keep, merged=other)
            return _merge(library, keep, other)


@router.post(
    "/suggestions/{a}/{b}/reject",
    response_model=RejectResponse,
    summary="Reject a merge suggestion: two people, never suggested again",
)
def reject_suggestion(request: Request, a: ClusterId, b: ClusterId) -> RejectResponse:
    context = ctx(request)
    caller = context.guard(request, "enrol")
    with context.audited(caller, "library_reject_suggestion", None) as detail:
        detail.update(suggestion=[a, b])
        with _writing(context) as library:
            library.reject_suggestion(a, b)
    low, high = sorted((a, b))
    return RejectResponse(a=low, b=high, rejected=True)


@router.post(
    "/clusters/{cluster_id}/promote",
    response_model=PromoteResponse,
    summary="Enrol a person's faces into a gallery collection as one subject",
)
def promote_cluster(
    request: Request, cluster_id: ClusterId, body: PromoteRequest
) -> PromoteResponse:
    context = ctx(request)
    collection = check_name(body.collection)
    caller = context.guard(request, "enrol", collection)
    name = None if body.name is None else check_subject(body.name.strip() or body.name)
    with context.audited(caller, "library_promote", collection, name) as detail:
        detail["cluster"] = cluster_id
        with _writing(context) as library:
            info = library.cluster_info(cluster_id)
            subject = name if name is not None else info.name
            if subject is None:
                raise ClusterError(f"cluster {cluster_id} has no name; give one to promote it")
            check_subject(subject)
            with context.collections.use(collection) as gallery:
                result = library.promote(cluster_id, gallery, subject, allow_similar=body.force)
            detail.update(subject=result.subject, template_ids=list(result.template_ids))
            return PromoteResponse(
                cluster=_one(library, cluster_id),
                collection=collection,
                subject=result.subject,
                added=result.added,
                template_ids=list(result.template_ids),
            )
