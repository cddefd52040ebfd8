"""Detect, identify (1:N against a collection) and verify (1:1)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request

from facescope import api
from facescope.errors import NoFaceError
from facescope.match.thresholds import (
    DEFAULT_FMR,
    DEFAULT_FPIR,
    FUSION,
    load_calibration,
    verification_rule,
)
from facescope.pipeline import embed_faces
from facescope.service.context import ServiceContext
from facescope.service.errors import ApiError
from facescope.service.routes_gallery import CollectionName, check_subject, ctx
from facescope.service.schemas import (
    CandidateOut,
    DecisionRuleOut,
    DetectedFace,
    DetectResponse,
    EmbeddedFace,
    EmbedResponse,
    IdentifiedFace,
    IdentifyResponse,
    ImageSize,
    PadEvidence,
    PadResponse,
    VerifyResponse,
)
from facescope.service.uploads import openapi_body, read_upload
from facescope.types import Embeddings, VerifyResult, as_box

router = APIRouter(prefix="/v1", tags=["recognition"])

Fmr = Annotated[
    float,
    Query(
        gt=0,
        lt=1,
        description="false-match rate of the 1:1 decision, within the calibrated range "
        "(/v1/info fmr_choices; interpolated between them)",
    ),
]


def _size(rgb: np.ndarray) -> ImageSize:
    return ImageSize(width=int(rgb.shape[1]), height=int(rgb.shape[0]))


def _box(values: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in values]


@router.post(
    "/detect",
    response_model=DetectResponse,
    summary="Find faces: boxes, scores and 5 landmarks",
    openapi_extra=openapi_body(["image"]),
)
async def detect(request: Request) -> DetectResponse:
    context = ctx(request)
    context.guard(request, "read")
    upload = await read_upload(request, ["image"])
    data, _ = upload.image("image")

    def work() -> DetectResponse:
        rgb = context.decode(data, "image")
        faces = context.faces(rgb, "detect")
        return DetectResponse(
            image=_size(rgb), faces=[DetectedFace(**face) for face in faces.to_dicts()]
        )

    return await context.compute(work)


@router.post(
    "/embed",
    response_model=EmbedResponse,
    summary="Embeddings of every face (a 112x112 image is taken as an aligned crop)",
    description=(
        "The templates this deployment stores, for auditing it: "
        "`facescope audit invert --target http://.../v1/embed` measures how well "
        "faces can be reconstructed from them. Needs read permission and is audited."
    ),
    openapi_extra=openapi_body(["image"]),
)
async def embed(
    request: Request,
    model: Annotated[str, Query(pattern="^(sface|dlib)$", description="recogniser")] = "sface",
) -> EmbedResponse:
    context = ctx(request)
    caller = context.guard(request, "read")
    upload = await read_upload(request, ["image"])
    data, filename = upload.image("image")

    def work() -> EmbedResponse:
        rgb = context.decode(data, "image")
        faces = context.faces(rgb, "embed")
        found = embed_faces(rgb, faces, model) if len(faces) else None
        out = [
            EmbeddedFace(
                **face,
                embedding=[round(float(v), 7) for v in found.vectors[index]],
                norm=round(float(found.norms[index]), 6),
            )
            for index, face in enumerate(faces.to_dicts())
            if found is not None
        ]
        return EmbedResponse(model=model, image=_size(rgb), faces=out)

    async with context.audited_async(caller, "embed", None) as detail:
        detail["source"] = filename
        response = await context.compute(work)
        detail["faces"] = len(response.faces)
    return response


@router.post(
    "/pad",
    response_model=PadResponse,
    summary="Live face or presentation attack (print, replay)? With evidence and explanation",
    description=(
        "Presentation-attack detection on the largest face: live, attack, or uncertain. "
        "The shipped model was trained on real print attacks of another camera; until it is "
        "calibrated for yours (`facescope pad calibrate`, then start the service with "
        "FACESCOPE_PAD_MODEL set) scores in its uncertain band are answered `uncertain`. "
        "Needs read permission; audited."
    ),
    openapi_extra=openapi_body(["image"]),
)
async def pad(request: Request) -> PadResponse:
    from facescope.pad.model import default_model
    from facescope.pad.presentation import check

    context = ctx(request)
    caller = context.guard(request, "read")
    upload = await read_upload(request, ["image"])
    data, filename = upload.image("image")

    def work() -> PadResponse:
        rgb = context.decode(data, "image")
        model = default_model()
        result = check(rgb, model=model).to_dict()
        return PadResponse(
            image=_size(rgb),
            box=result["box"],
            live_probability=result["live_probability"],
            threshold=result["threshold"],
            is_live=result["is_live"],
            decision=result["decision"],
            uncertain_band=result["uncertain_band"],
            attack_type=result["attack_type"],
            attack_probabilities=result["attack_probabilities"],
            evidence=[PadEvidence(**e) for e in result["evidence"]],
            heatmap=result["heatmap"],
            explanation=result["explanation"],
            calibrated=result["calibrated"],
            threshold_source=result["threshold_source"],
        )

    async with context.audited_async(caller, "pad", None) as detail:
        detail["source"] = filename
        response = await context.compute(work)
        detail["is_live"] = response.is_live
        detail["decision"] = response.decision
    return response


@router.post(
    "/collections/{collection}/identify",
    response_model=IdentifyResponse,
    summary="Who is each face? (open set: null when not enrolled)",
    openapi_extra=openapi_body(["image"]),
)
async def identify(
    request: Request,
    collection: CollectionName,
    top_k: Annotated[int, Query(ge=1, le=100, description="candidates per face")] = 5,
    fpir: Annotated[
        float,
        Query(gt=0, lt=1, description="false-positive identification rate to hold (strangers)"),
    ] = DEFAULT_FPIR,
) -> IdentifyResponse:
    context = ctx(request)
    caller = context.guard(request, "read", collection)
    upload = await read_upload(request, ["image"])
    data, filename = upload.image("image")
    model = context.collections.model(collection)

    def work() -> IdentifyResponse:
        rgb = context.decode(data, "image")
        faces = context.faces(rgb, "identify")
        probes = embed_faces(rgb, faces, model).vectors
        with context.collections.use(collection) as gallery:
            counts = gallery.counts()  # once: a database gallery counts with a query
            subjects, templates = counts
            rule = gallery.identification_rule(fpir, subjects=subjects)
            found = (
                gallery.identify_embeddings(
                    faces.boxes, probes, top_k=top_k, fpir=fpir, counts=counts
                )
                if templates and len(faces)
                else []
            )
        out = []
        for index in range(len(faces)):
            match = found[index] if found else None
            out.append(
                IdentifiedFace(
                    box=_box(faces.boxes[index]),
                    detector_score=round(float(faces.scores[index]), 4),
                    identity=match.identity if match else None,
                    score=round(match.score, 6) if match else None,
                    candidates=[
                        CandidateOut(identity=c.identity, score=round(c.score, 6))
                        for c in (match.candidates if match else [])
                    ],
                )
            )
        return IdentifyResponse(
            collection=collection,
            model=model,
            fpir=fpir,
            threshold=round(rule.threshold, 6),
            subjects=subjects,
            image=_size(rgb),
            faces=out,
            decision_rule=DecisionRuleOut(**rule.to_dict()),
        )

    async with context.audited_async(caller, "identify", collection) as detail:
        detail["source"] = filename
        response = await context.compute(work)
        detail["faces"] = len(response.faces)
        detail["identities"] = [f.identity for f in response.faces]
    return response


@router.post(
    "/verify",
    response_model=VerifyResponse,
    summary="Same person? Two photos, or one photo against an enrolled subject",
    description=(
        "Send `image_a` and `image_b`, or `image` with the `collection` and `subject` "
        "query parameters. Every face of each photo is compared (with every face of the "
        "other photo, or with the subject's templates); the best pair decides, its boxes "
        "are returned, and the threshold keeps the FMR over all pairs."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {
                    "schema": {
                        "oneOf": [
                            openapi_body(["image_a", "image_b"])["requestBody"]["content"][kind][
                                "schema"
                            ],
                            openapi_body(["image"])["requestBody"]["content"][kind]["schema"],
                        ]
                    }
                }
                for kind in ("multipart/form-data", "application/json")
            },
        }
    },
)
async def verify(
    request: Request,
    model: Annotated[
        str, Query(pattern="^(sface|dlib|fusion)$", description="two-photo mode only")
    ] = "sface",
    fmr: Fmr = DEFAULT_FMR,
    collection: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    ] = None,
    subject: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> VerifyResponse:
    context = ctx(request)
    if (collection is None) != (subject is None):
        raise ApiError(422, "invalid_request", "give both collection and subject, or neither")
    caller = context.guard(request, "read", collection)
    if collection is None:
        upload = await read_upload(request, ["image_a", "image_b"])
        first, second = upload.image("image_a")[0], upload.image("image_b")[0]
        # fail on an uncalibrated FMR before any inference
        verification_rule(load_calibration(), model, fmr)
        return await context.compute(_verify_pair, context, first, second, model, fmr)
    assert subject is not None
    check_subject(subject)
    upload = await read_upload(request, ["image"])
    data, filename = upload.image("image")
    gallery_model = context.collections.model(collection)

    def work() -> VerifyResponse:
        with context.collections.use(collection) as gallery:
            gallery.show(subject)  # refuse an unknown subject or FMR before inference
            gallery.threshold(fmr)
        rgb = context.decode(data, "image")
        faces = context.faces(rgb, "verify")
        if len(faces) == 0:
            raise NoFaceError("image: no face found")
        probes = embed_faces(rgb, faces, gallery_model).vectors
        with context.collections.use(collection) as gallery:
            result = gallery.verify_faces(subject, probes, faces.boxes, fmr=fmr)
        box = result.box_b if result.box_b is not None else as_box(faces.boxes[0])
        return _verify_out(result, {"image": _box(np.asarray(box))}, collection, subject)

    async with context.audited_async(caller, "verify", collection, subject) as detail:
        detail["source"] = filename
        response = await context.compute(work)
        detail["same_person"] = response.same_person
        detail["score"] = response.score
    return response


def _verify_pair(
    context: ServiceContext, first: bytes, second: bytes, model: str, fmr: float
) -> VerifyResponse:
    """Every face of A against every face of B; the best pair decides (see :func:`api.verify`)."""
    needed = list(load_calibration().for_model(FUSION).weights) if model == FUSION else [model]
    sides: list[dict[str, Embeddings]] = []
    found: list[np.ndarray] = []
    for field, data in (("image_a", first), ("image_b", second)):
        rgb = context.decode(data, field)
        faces = context.faces(rgb, "verify")
        if len(faces) == 0:
            raise NoFaceError(f"{field}: no face found")
        found.append(faces.boxes)
        sides.append({m: embed_faces(rgb, faces, m) for m in needed})
    result = api.verify_faces(sides[0], sides[1], model=model, fmr=fmr, boxes=(found[0], found[1]))
    boxes = {
        field: [round(float(v), 1) for v in box]
        for field, box in (("image_a", result.box_a), ("image_b", result.box_b))
        if box is not None
    }
    return _verify_out(result, boxes)


def _verify_out(
    result: VerifyResult,
    boxes: dict[str, list[float]],
    collection: str | None = None,
    subject: str | None = None,
) -> VerifyResponse:
    rule = result.decision_rule
    assert rule is not None  # every verify states its rule
    return VerifyResponse(
        same_person=result.same_person,
        score=round(result.score, 6),
        threshold=round(result.threshold, 6),
        model=result.model,
        fmr=result.fmr,
        boxes=boxes,
        faces=(
            {"image_a": result.faces_a, "image_b": result.faces_b}
            if not subject
            else {"image": result.faces_b}
        ),
        comparisons=result.comparisons,
        collection=collection,
        subject=subject,
        decision_rule=DecisionRuleOut(**rule.to_dict()),
    )
