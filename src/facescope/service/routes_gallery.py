"""Collections, subjects and their face templates: create, list, get, delete; enrol."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from facescope.errors import EnrollmentError, UnknownTemplateError
from facescope.gallery.gallery import Gallery
from facescope.gallery.store import SubjectInfo
from facescope.gallery.templates import content_hash, template_from_faces
from facescope.service.collections import UnknownCollectionError, check_name
from facescope.service.context import ServiceContext
from facescope.service.errors import ApiError
from facescope.service.schemas import (
    AuditOut,
    CollectionCreate,
    CollectionDetail,
    CollectionOut,
    DecisionRuleOut,
    Deleted,
    EnrollResponse,
    OperatingPoint,
    SubjectDetail,
    SubjectOut,
    TemplateOut,
)
from facescope.service.uploads import object_field, openapi_body, read_upload, text_field

router = APIRouter(prefix="/v1/collections", tags=["collections"])

CollectionName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="collection name",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    ),
]
SubjectName = Annotated[str, Path(min_length=1, max_length=200, description="subject name")]


def ctx(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.ctx
    return context


def check_subject(name: str) -> str:
    """A subject name usable in a URL path: 1-200 printable characters.

    Refused: ``/`` (a path separator even when escaped), the dot segments ``.``
    and ``..`` (clients resolve them, so ``subjects/..`` would address the
    collection itself), and leading or trailing spaces (``"Ann"`` and ``"Ann "``
    would be different people).
    """
    if (
        not name.strip()
        or len(name) > 200
        or not name.isprintable()
        or "/" in name
        or name in (".", "..")
        or name != name.strip()
    ):
        raise ApiError(
            422,
            "invalid_name",
            "subject names are 1-200 printable characters, without '/', not '.' or '..', "
            "and without leading or trailing spaces",
        )
    return name


def _collection_out(context: ServiceContext, name: str) -> CollectionOut:
    with context.collections.use(name) as gallery:
        subjects, templates = gallery.counts()
        return CollectionOut(
            name=name,
            model=gallery.model,
            model_version=gallery.model_version,
            subjects=subjects,
            templates=templates,
        )


def _subject_out(info: SubjectInfo) -> SubjectOut:
    return SubjectOut(
        name=info.name,
        metadata=info.metadata,
        templates=info.n_templates,
        created_at=info.created_at,
    )


@router.get("", response_model=list[CollectionOut], summary="List the collections you may read")
def list_collections(request: Request) -> list[CollectionOut]:
    context = ctx(request)
    caller = context.guard(request, "read")
    return [
        _collection_out(context, name)
        for name in context.collections.names()
        if caller.allows("read", name)
    ]


@router.post(
    "", response_model=CollectionOut, status_code=201, summary="Create a collection (admin)"
)
def create_collection(request: Request, body: CollectionCreate) -> CollectionOut:
    context = ctx(request)
    name = check_name(body.name)
    caller = context.guard(request, "admin", name)
    with context.audited(caller, "create_collection", name) as detail:
        context.collections.create(name, body.model)
        detail["model"] = body.model
    return _collection_out(context, name)


@router.get("/{collection}", response_model=CollectionDetail, summary="One collection")
def get_collection(request: Request, collection: CollectionName) -> CollectionDetail:
    context = ctx(request)
    context.guard(request, "read", collection)
    with context.collections.use(collection) as gallery:  # one snapshot (the lock is re-entrant)
        summary = _collection_out(context, collection)
        points = [OperatingPoint(fmr=f, threshold=t) for f, t in gallery.operating_points.items()]
        rule = gallery.identification_rule()
    return CollectionDetail(
        **summary.model_dump(),
        operating_points=points,
        open_set_threshold=rule.threshold,
        open_set_rule=DecisionRuleOut(**rule.to_dict()),
    )


@router.delete(
    "/{collection}", response_model=Deleted, summary="Erase a collection and all its templates"
)
def delete_collection(request: Request, collection: CollectionName) -> Deleted:
    context = ctx(request)
    caller = context.guard(request, "admin", collection)
    with context.audited(caller, "delete_collection", collection) as detail:
        templates = _collection_out(context, collection).templates
        context.collections.delete(collection)
        detail["templates_removed"] = templates
    return Deleted(deleted=collection, templates_removed=templates)


@router.get(
    "/{collection}/subjects",
    response_model=list[SubjectOut],
    summary="Subjects of a collection, by name, a page at a time",
)
def list_subjects(
    request: Request,
    collection: CollectionName,
    limit: Annotated[int, Query(ge=1, le=10_000, description="page size")] = 1000,
    offset: Annotated[int, Query(ge=0, le=2**62, description="subjects to skip")] = 0,
) -> list[SubjectOut]:
    context = ctx(request)
    context.guard(request, "read", collection)
    with context.collections.use(collection) as gallery:
        return [_subject_out(info) for info in gallery.list(limit, offset)]


@router.get(
    "/{collection}/subjects/{subject}",
    response_model=SubjectDetail,
    summary="One subject with its face templates",
)
def get_subject(
    request: Request, collection: CollectionName, subject: SubjectName
) -> SubjectDetail:
    context = ctx(request)
    context.guard(request, "read", collection)
    with context.collections.use(collection) as gallery:
        info = gallery.show(subject)
        faces = [_template_out(i, r) for i, r in gallery.templates(subject)]
    return SubjectDetail(**_subject_out(info).model_dump(), faces=faces)


@router.get(
    "/{collection}/subjects/{subject}/faces",
    response_model=list[TemplateOut],
    summary="A subject's face templates",
)
def list_faces(
    request: Request, collection: CollectionName, subject: SubjectName
) -> list[TemplateOut]:
    context = ctx(request)
    context.guard(request, "read", collection)
    with context.collections.use(collection) as gallery:
        return [_template_out(i, r) for i, r in gallery.templates(subject)]


@router.get(
    "/{collection}/subjects/{subject}/faces/{template_id}",
    response_model=TemplateOut,
    summary="One face template of a subject",
)
def get_face(
    request: Request,
    collection: CollectionName,
    subject: SubjectName,
    template_id: Annotated[int, Path(ge=1, le=2**62)],
) -> TemplateOut:
    context = ctx(request)
    context.guard(request, "read", collection)
    with context.collections.use(collection) as gallery:
        for found, record in gallery.templates(subject):
            if found == template_id:
                return _template_out(found, record)
    raise UnknownTemplateError(f"subject {subject!r} has no template {template_id}")


def _template_out(template_id: int, record: Any) -> TemplateOut:
    return TemplateOut(
        id=template_id, source=record.source, quality=record.quality, norm=record.norm
    )


@router.delete(
    "/{collection}/subjects/{subject}",
    response_model=Deleted,
    summary="Erase a subject and all its templates",
    responses={202: {"model": Deleted, "description": "erased; erasure pending (see erasure)"}},
)
def delete_subject(
    request: Request, response: Response, collection: CollectionName, subject: SubjectName
) -> Deleted:
    context = ctx(request)
    caller = context.guard(request, "enrol", collection)
    with context.audited(caller, "delete_subject", collection, subject) as detail:
        with context.collections.use(collection) as gallery:
            removed = gallery.remove(subject)
            erasure = _erasure(gallery, response)
        detail.update(templates_removed=removed, erasure=erasure)
    return Deleted(deleted=subject, templates_removed=removed, erasure=erasure)


#: How long a deletion waits for readers of an older snapshot before answering 202.
ERASURE_WAIT_S = 2.0


def _erasure(gallery: Gallery, response: Response) -> Literal["complete", "pending"]:
    """Finish the erasure now if readers allow; else answer 202 and let a later access do it.

    The gallery retries a pending erasure before each later operation and on
    close, so the erased bytes leave the write-ahead log as soon as the reader
    that pins them ends.
    """
    if not gallery.erasure_pending or gallery.finish_erasure(ERASURE_WAIT_S):
        return "complete"
    response.status_code = 202
    return "pending"


@router.delete(
    "/{collection}/subjects/{subject}/faces/{template_id}",
    response_model=Deleted,
    summary="Erase one face template (the subject goes with its last one)",
    responses={202: {"model": Deleted, "description": "erased; erasure pending (see erasure)"}},
)
def delete_face(
    request: Request,
    response: Response,
    collection: CollectionName,
    subject: SubjectName,
    template_id: Annotated[int, Path(ge=1, le=2**62)],
) -> Deleted:
    context = ctx(request)
    caller = context.guard(request, "enrol", collection)
    with context.audited(caller, "delete_template", collection, subject) as detail:
        detail["template_id"] = template_id
        with context.collections.use(collection) as gallery:
            left = gallery.remove_template(subject, template_id)
            erasure = _erasure(gallery, response)
        detail.update(templates_left=left, erasure=erasure)
    return Deleted(
        deleted=str(template_id), templates_removed=1, templates_left=left, erasure=erasure
    )


ForceQuery = Annotated[
    bool,
    Query(
        description="create a new subject even when an enrolled one has the same name up to "
        "case and whitespace (refused with 409 similar_subject otherwise)"
    ),
]


async def _enrol(
    request: Request,
    collection: str,
    subject: str | None,
    largest_face: bool,
    spectrum: str | None = None,
    force: bool = False,
) -> EnrollResponse:
    context = ctx(request)
    caller = context.guard(request, "enrol", collection)
    upload = await read_upload(request, ["image"])
    if subject is None:
        subject = text_field(upload, "name", required=True)
        assert subject is not None
    check_subject(subject)
    metadata = object_field(upload, "metadata")
    data, filename = upload.image("image")
    model = context.collections.model(collection)

    def work() -> EnrollResponse:
        rgb = context.decode(data, "image")
        faces = context.faces(rgb, "enrol")
        if len(faces) > 1 and not largest_face:
            raise EnrollmentError(
                f"{filename}: {len(faces)} faces found; enrol a photo of one person, or "
                "add ?largest_face=true to use the largest"
            )
        record, face = template_from_faces(
            rgb, faces, content_hash(rgb), filename, model, largest_face, spectrum=spectrum
        )
        warnings: list[str] = []
        with context.collections.use(collection) as gallery:
            if gallery.has_subject(subject):
                check = gallery.verify_embedding(subject, record.embedding)
                if not check.same_person:
                    warnings.append(
                        f"this face does not match {subject!r}'s other photos (best score "
                        f"{check.score:.3f} < threshold {check.threshold:.3f} at FMR "
                        f"{check.fmr:g}); check that it is the same person"
                    )
            result = gallery.enroll_templates(
                subject, [record], metadata=metadata, allow_similar=force
            )
        return EnrollResponse(
            warnings=warnings,
            collection=collection,
            subject=subject,
            model=model,
            added=result.added,
            template_ids=result.template_ids,
            box=[round(float(v), 1) for v in face.boxes[0]],
            spectrum=str(record.spectrum),
        )

    async with context.audited_async(caller, "enrol", collection, subject) as detail:
        detail["source"] = filename
        response = await context.compute(work)
        detail["template_ids"] = response.template_ids
    return response


SpectrumQuery = Annotated[
    str | None,
    Query(
        pattern="^(vis|nir|thermal)$",
        description="capture spectrum of the photo (default: guessed from the image)",
    ),
]

_ENROL_BODY = openapi_body(
    ["image"],
    {"metadata": {"type": "object", "description": "free-form subject metadata"}},
)


@router.post(
    "/{collection}/subjects",
    response_model=EnrollResponse,
    status_code=201,
    summary="Create a subject from a photo (enrol)",
    openapi_extra=openapi_body(
        ["image"],
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "metadata": {"type": "object", "description": "free-form subject metadata"},
        },
        required=["name"],
    ),
)
async def create_subject(
    request: Request,
    collection: CollectionName,
    largest_face: Annotated[
        bool, Query(description="use the largest face of a photo with several")
    ] = False,
    spectrum: SpectrumQuery = None,
    force: ForceQuery = False,
) -> EnrollResponse:
    return await _enrol(request, collection, None, largest_face, spectrum, force)


@router.post(
    "/{collection}/subjects/{subject}/faces",
    response_model=EnrollResponse,
    status_code=201,
    summary="Enrol a face photo for a subject (created if new)",
    openapi_extra=_ENROL_BODY,
)
async def add_face(
    request: Request,
    collection: CollectionName,
    subject: SubjectName,
    largest_face: Annotated[
        bool, Query(description="use the largest face of a photo with several")
    ] = False,
    spectrum: SpectrumQuery = None,
    force: ForceQuery = False,
) -> EnrollResponse:
    return await _enrol(request, collection, subject, largest_face, spectrum, force)


@router.get(
    "/{collection}/audit",
    response_model=list[AuditOut],
    summary="The collection's audit log, newest first (admin)",
)
def audit_log(
    request: Request,
    collection: CollectionName,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="entries older than this id")
    ] = None,
) -> list[AuditOut]:
    context = ctx(request)
    context.guard(request, "admin", collection)
    check_name(collection)
    # a deleted collection keeps its log (who erased what); a name never used has none
    if not context.collections.exists(collection) and not context.state.has_audit(collection):
        raise UnknownCollectionError(f"unknown collection {collection!r}")
    entries = context.state.audit_entries(collection=collection, limit=limit, before=before)
    return [AuditOut(**e.to_dict()) for e in entries]
