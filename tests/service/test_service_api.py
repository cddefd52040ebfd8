"""The REST API end to end, in open mode (no API keys): enrol, identify, verify, manage."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from service_helpers import b64, client, error_code, upload


@pytest.fixture()
def api(service_data: Path | str) -> Iterator[Any]:
    """The service over a folder and (slow, `make test`) over PostgreSQL: one suite."""
    with client(service_data) as test_client:
        yield test_client


def enrol(api: Any, data: Path, name: str, photo: str, collection: str = "default") -> Any:
    return api.post(
        f"/v1/collections/{collection}/subjects/{name}/faces", files=upload(data / photo)
    )


def test_enrol_then_identify_names_the_person_and_not_a_stranger(api: Any, data: Path) -> None:
    response = enrol(api, data, "Barack Obama", "obama_1.jpg")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["subject"] == "Barack Obama" and body["added"] == 1 and body["model"] == "sface"
    assert len(body["box"]) == 4

    found = api.post("/v1/collections/default/identify", files=upload(data / "obama_2.jpg"))
    assert found.status_code == 200, found.text
    result = found.json()
    assert result["model"] == "sface" and result["subjects"] == 1
    assert [f["identity"] for f in result["faces"]] == ["Barack Obama"]
    face = result["faces"][0]
    assert face["score"] >= result["threshold"] > 0
    assert result["image"] == {"width": 480, "height": 270}

    stranger = api.post(
        "/v1/collections/default/identify", json={"image": b64(data / "biden_1.jpg")}
    )
    assert stranger.status_code == 200
    assert [f["identity"] for f in stranger.json()["faces"]] == [None]


def test_identify_every_face_of_a_group_photo(api: Any, data: Path) -> None:
    enrol(api, data, "Obama", "obama_1.jpg")
    enrol(api, data, "Biden", "biden_1.jpg")
    result = api.post(
        "/v1/collections/default/identify?top_k=2",
        files=upload(data / "obama_left_biden_right.jpg"),
    ).json()
    assert [f["identity"] for f in result["faces"]] == ["Obama", "Biden"]
    assert all(len(f["candidates"]) == 2 for f in result["faces"])


def test_identify_on_an_empty_collection_reports_unknown_faces(api: Any, data: Path) -> None:
    result = api.post("/v1/collections/default/identify", files=upload(data / "obama_1.jpg"))
    assert result.status_code == 200
    assert [f["identity"] for f in result.json()["faces"]] == [None]


def test_json_and_multipart_bodies_give_the_same_result(api: Any, data: Path) -> None:
    multipart = api.post("/v1/detect", files=upload(data / "obama_1.jpg")).json()
    as_json = api.post("/v1/detect", json={"image": b64(data / "obama_1.jpg")}).json()
    data_url = api.post(
        "/v1/detect", json={"image": "data:image/jpeg;base64," + b64(data / "obama_1.jpg")}
    ).json()
    assert multipart == as_json == data_url
    assert len(multipart["faces"]) == 1 and len(multipart["faces"][0]["landmarks5"]) == 5


def test_verify_two_photos_and_photo_against_subject(api: Any, data: Path) -> None:
    same = api.post(
        "/v1/verify",
        files={
            **upload(data / "obama_1.jpg", "image_a"),
            **upload(data / "obama_2.jpg", "image_b"),
        },
    ).json()
    assert same["same_person"] is True and same["score"] >= same["threshold"]
    assert same["fmr"] == 0.001 and set(same["boxes"]) == {"image_a", "image_b"}
    different = api.post(
        "/v1/verify?fmr=0.01",
        json={"image_a": b64(data / "obama_1.jpg"), "image_b": b64(data / "biden_1.jpg")},
    ).json()
    assert different["same_person"] is False and different["fmr"] == 0.01
    fused = api.post(
        "/v1/verify?model=fusion",
        files={
            **upload(data / "biden_1.jpg", "image_a"),
            **upload(data / "biden_2.jpg", "image_b"),
        },
    ).json()
    assert fused["model"] == "fusion" and fused["same_person"] is True

    enrol(api, data, "Obama", "obama_1.jpg")
    claim = api.post(
        "/v1/verify?collection=default&subject=Obama", files=upload(data / "obama_2.jpg")
    ).json()
    assert claim["same_person"] is True and claim["subject"] == "Obama"
    impostor = api.post(
        "/v1/verify?collection=default&subject=Obama", files=upload(data / "biden_2.jpg")
    ).json()
    assert impostor["same_person"] is False


def test_verify_refuses_an_uncalibrated_fmr_and_half_a_claim(api: Any, data: Path) -> None:
    pair = {**upload(data / "obama_1.jpg", "image_a"), **upload(data / "obama_2.jpg", "image_b")}
    response = api.post("/v1/verify?fmr=0.05", files=pair)
    assert response.status_code == 422 and error_code(response) == "not_calibrated"
    response = api.post("/v1/verify?collection=default", files=upload(data / "obama_1.jpg"))
    assert response.status_code == 422 and error_code(response) == "invalid_request"
    response = api.post(
        "/v1/verify?collection=default&subject=Nobody", files=upload(data / "obama_1.jpg")
    )
    assert response.status_code == 404 and error_code(response) == "unknown_subject"


def test_subjects_and_templates_list_get_delete(api: Any, data: Path) -> None:
    first = enrol(api, data, "Obama", "obama_1.jpg").json()["template_ids"][0]
    second = enrol(api, data, "Obama", "obama_2.jpg").json()["template_ids"][0]
    created = api.post(
        "/v1/collections/default/subjects",
        data={"name": "Biden", "metadata": '{"team": "B"}'},
        files=upload(data / "biden_1.jpg"),
    )
    assert created.status_code == 201, created.text
    listed = api.get("/v1/collections/default/subjects").json()
    assert [(s["name"], s["templates"]) for s in listed] == [("Biden", 1), ("Obama", 2)]
    assert listed[0]["metadata"] == {"team": "B"}
    page = api.get("/v1/collections/default/subjects?limit=1&offset=1").json()
    assert [s["name"] for s in page] == ["Obama"]
    assert api.get("/v1/collections/default/subjects?limit=0").status_code == 422
    detail = api.get("/v1/collections/default/subjects/Obama").json()
    assert [f["id"] for f in detail["faces"]] == [first, second]
    assert detail["faces"][0]["source"] == "obama_1.jpg"
    assert api.get("/v1/collections/default/subjects/Obama/faces").json() == detail["faces"]
    one = api.get(f"/v1/collections/default/subjects/Obama/faces/{second}")
    assert one.json() == detail["faces"][1]
    assert api.get("/v1/collections/default/subjects/Obama/faces/999").status_code == 404

    gone = api.delete(f"/v1/collections/default/subjects/Obama/faces/{first}")
    assert gone.status_code == 200 and gone.json()["templates_left"] == 1
    again = api.delete(f"/v1/collections/default/subjects/Obama/faces/{first}")
    assert again.status_code == 404 and error_code(again) == "unknown_template"
    last = api.delete(f"/v1/collections/default/subjects/Obama/faces/{second}")
    assert last.json()["templates_left"] == 0
    assert api.get("/v1/collections/default/subjects/Obama").status_code == 404

    removed = api.delete("/v1/collections/default/subjects/Biden")
    assert removed.json() == {
        "deleted": "Biden",
        "templates_removed": 1,
        "templates_left": None,
        "erasure": "complete",
    }
    assert api.get("/v1/collections/default/subjects").json() == []
    missing = api.delete("/v1/collections/default/subjects/Biden")
    assert missing.status_code == 404 and error_code(missing) == "unknown_subject"


def test_enrolment_refusals_are_specific(api: Any, data: Path) -> None:
    enrol(api, data, "Obama", "obama_1.jpg")
    duplicate = enrol(api, data, "Obama", "obama_1.jpg")
    assert duplicate.status_code == 409 and error_code(duplicate) == "duplicate_template"
    group = enrol(api, data, "Group", "obama_left_biden_right.jpg")
    assert group.status_code == 422 and error_code(group) == "enrolment_refused"
    assert "2 faces" in group.json()["error"]["message"]
    largest = api.post(
        "/v1/collections/default/subjects/Group/faces?largest_face=true",
        files=upload(data / "obama_left_biden_right.jpg"),
    )
    assert largest.status_code == 201
    blank = api.post("/v1/collections/default/subjects/Nobody/faces", files=_blank_png())
    assert blank.status_code == 422 and error_code(blank) == "enrolment_refused"
    assert "no face" in blank.json()["error"]["message"]
    spaces = api.post(
        "/v1/collections/default/subjects/%20%20/faces", files=upload(data / "biden_1.jpg")
    )
    assert spaces.status_code == 422
    # "obama" next to "Obama": refused unless forced (issue 28)
    similar = enrol(api, data, "obama", "obama_2.jpg")
    assert similar.status_code == 409 and error_code(similar) == "similar_subject"
    assert "'Obama' is enrolled" in similar.json()["error"]["message"]
    forced = api.post(
        "/v1/collections/default/subjects/obama/faces?force=true",
        files=upload(data / "obama_2.jpg"),
    )
    assert forced.status_code == 201


def test_collections_are_separate_galleries(api: Any, data: Path) -> None:
    created = api.post("/v1/collections", json={"name": "site-b"})
    assert created.status_code == 201 and created.json()["templates"] == 0
    assert api.post("/v1/collections", json={"name": "site-b"}).status_code == 409
    bad = api.post("/v1/collections", json={"name": "../etc"})
    assert bad.status_code == 422
    enrol(api, data, "Obama", "obama_1.jpg", collection="site-b")
    names = [c["name"] for c in api.get("/v1/collections").json()]
    assert names == ["default", "site-b"]
    in_default = api.post("/v1/collections/default/identify", files=upload(data / "obama_2.jpg"))
    assert [f["identity"] for f in in_default.json()["faces"]] == [None]
    in_b = api.post("/v1/collections/site-b/identify", files=upload(data / "obama_2.jpg"))
    assert [f["identity"] for f in in_b.json()["faces"]] == ["Obama"]
    detail = api.get("/v1/collections/site-b").json()
    assert detail["subjects"] == 1 and len(detail["operating_points"]) == 3
    assert api.delete("/v1/collections/site-b").json()["templates_removed"] == 1
    gone = api.get("/v1/collections/site-b")
    assert gone.status_code == 404 and error_code(gone) == "unknown_collection"
    assert api.delete("/v1/collections/default").status_code == 409


def test_concurrent_requests_are_isolated_and_correct(api: Any, data: Path) -> None:
    enrol(api, data, "Obama", "obama_1.jpg")
    enrol(api, data, "Biden", "biden_1.jpg")
    probes = ["obama_2.jpg", "biden_2.jpg", "obama_left_biden_right.jpg"] * 4
    expected = {
        "obama_2.jpg": ["Obama"],
        "biden_2.jpg": ["Biden"],
        "obama_left_biden_right.jpg": ["Obama", "Biden"],
    }

    def call(name: str) -> tuple[str, list[str | None]]:
        body = api.post("/v1/collections/default/identify", files=upload(data / name)).json()
        return name, [f["identity"] for f in body["faces"]]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(call, probes))
    assert all(identities == expected[name] for name, identities in results)


def test_audit_log_records_who_what_where_and_result(api: Any, data: Path) -> None:
    enrol(api, data, "Obama", "obama_1.jpg")
    api.post("/v1/collections/default/identify", files=upload(data / "obama_2.jpg"))
    enrol(api, data, "Obama", "obama_1.jpg")  # refused: duplicate
    api.delete("/v1/collections/default/subjects/Obama")
    entries = api.get("/v1/collections/default/audit").json()
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("delete_subject", "ok"),
        ("enrol", "error:duplicate_template"),
        ("identify", "ok"),
        ("enrol", "ok"),
    ]
    assert entries[2]["detail"]["identities"] == ["Obama"]
    assert entries[0]["subject"] == "Obama" and entries[0]["detail"]["templates_removed"] == 1
    assert all(e["collection"] == "default" and e["client"] and e["at"] > 0 for e in entries)
    older = api.get(f"/v1/collections/default/audit?before={entries[1]['id']}&limit=1").json()
    assert [e["action"] for e in older] == ["identify"]


def test_health_ready_info_and_metrics(api: Any, data: Path) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    ready = api.get("/ready").json()
    assert ready == {
        "ready": True,
        "checks": {"models": "ok", "data": "ok", "collections": "ok"},
    }
    info = api.get("/v1/info").json()
    assert info["auth_required"] is False and info["fmr_choices"] == [0.0001, 0.001, 0.01]
    assert info["detector"] == "retinaface"
    (research,) = info["research_models"]  # listed with its licence, off until accepted
    assert research["key"] == "arcface-mbf" and research["enabled"] is False
    assert "non-commercial" in research["licence"]
    assert research["enable_command"] == "facescope models enable arcface-mbf --accept-licence"
    api.post("/v1/detect", files=upload(data / "obama_left_biden_right.jpg"))
    api.post("/v1/detect", files=upload(data / "obama_1.jpg"))
    text = api.get("/metrics").text
    assert 'facescope_faces_processed_total{operation="detect"} 3.0' in text
    assert (
        'facescope_http_requests_total{method="POST",route="/v1/detect",status="200"} 2.0' in text
    )
    assert (
        'facescope_http_request_duration_seconds_count{method="POST",route="/v1/detect"} 2.0'
        in text
    )


def test_openapi_document_is_published_with_both_body_kinds(api: Any) -> None:
    document = api.get("/openapi.json").json()
    body = document["paths"]["/v1/collections/{collection}/identify"]["post"]["requestBody"]
    assert set(body["content"]) == {"multipart/form-data", "application/json"}
    assert "/v1/collections/{collection}/subjects/{subject}/faces" in document["paths"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(document["components"]["securitySchemes"])


def test_the_web_page_is_served(api: Any) -> None:
    page = api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def _blank_png() -> dict[str, tuple[str, bytes, str]]:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 200, 200)).save(buffer, format="PNG")
    return {"image": ("blank.png", buffer.getvalue(), "image/png")}


def test_deleting_a_collection_under_load_gives_404s_not_500s(api: Any, data: Path) -> None:
    api.post("/v1/collections", json={"name": "temp"})
    enrol(api, data, "Obama", "obama_1.jpg", collection="temp")

    def call(index: int) -> int:
        if index == 3:
            return int(api.delete("/v1/collections/temp").status_code)
        path = "/v1/collections/temp/identify"
        return int(api.post(path, files=upload(data / "obama_2.jpg")).status_code)

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(call, range(12)))
    assert set(statuses) <= {200, 404}, statuses
    assert api.get("/v1/collections/temp").status_code == 404


@pytest.mark.parametrize("name", ["a/b", ".", "..", " lead", "trail ", "tab\there"])
def test_subject_names_that_cannot_round_trip_in_a_url_are_refused(
    api: Any, data: Path, name: str
) -> None:
    created = api.post(
        "/v1/collections/default/subjects", data={"name": name}, files=upload(data / "obama_1.jpg")
    )
    assert created.status_code == 422 and error_code(created) == "invalid_name"
    assert api.get("/v1/collections/default/subjects").json() == []


def test_group_photo_refusal_speaks_rest(api: Any, data: Path) -> None:
    group = enrol(api, data, "Group", "obama_left_biden_right.jpg")
    assert "?largest_face=true" in group.json()["error"]["message"]


def test_enrolling_someone_else_under_a_subject_warns(api: Any, data: Path) -> None:
    assert enrol(api, data, "Obama", "obama_1.jpg").json()["warnings"] == []
    assert enrol(api, data, "Obama", "obama_2.jpg").json()["warnings"] == []
    other = enrol(api, data, "Obama", "biden_1.jpg")
    assert other.status_code == 201
    (warning,) = other.json()["warnings"]
    assert "does not match 'Obama'" in warning


def test_compare_finds_the_person_among_several_faces(service: Any, data: Path) -> None:
    """Issue 20 item 4: the web UI's Compare no longer decides on the largest face."""
    files = {
        "image_a": ("obama_1.jpg", (data / "obama_1.jpg").read_bytes(), "image/jpeg"),
        "image_b": ("group.jpg", (data / "biden_left_obama_right.jpg").read_bytes(), "image/jpeg"),
    }
    response = service.post("/v1/verify", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["same_person"] is True
    assert body["faces"]["image_b"] >= 2 and body["comparisons"] >= 2
    assert 400 < body["boxes"]["image_b"][0] < 600  # Obama, to the right of Biden
