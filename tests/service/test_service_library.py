"""The photo library over REST (/v1/library): upload, people, rename, split, merge, promote."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from service_helpers import b64, client, error_code, upload

from facescope.cluster.library import FaceLibrary
from facescope.service.state import ServiceState

PHOTOS = (
    "obama_1.jpg",
    "obama_2.jpg",
    "biden_1.jpg",
    "biden_2.jpg",
    "obama_left_biden_right.jpg",
    "biden_left_obama_right.jpg",
)


def _files(data: Path, names: tuple[str, ...] = PHOTOS) -> list[tuple[str, Any]]:
    return [("image", (n, (data / n).read_bytes(), "image/jpeg")) for n in names]


def _person_of(api: Any, photo: str) -> dict[str, Any]:
    """The cluster holding a face found in `photo` (the first, for a portrait)."""
    for cluster in api.get("/v1/library/clusters").json():
        detail = api.get(f"/v1/library/clusters/{cluster['id']}").json()
        if any(f["source"] == photo for f in detail["faces"]):
            return dict(detail)
    raise AssertionError(f"no cluster holds a face of {photo}")


def _suggested(api: Any) -> set[tuple[int, int]]:
    return {(s["a"], s["b"]) for s in api.get("/v1/library/suggestions").json()}


def test_upload_clusters_the_people_of_a_photo_library(service: Any, data: Path) -> None:
    empty = service.get("/v1/library").json()
    assert empty["library"] is False and empty["faces"] == 0
    assert service.get("/v1/library/clusters").json() == []
    assert service.get("/v1/library/suggestions").json() == []

    added = service.post("/v1/library/photos", files=_files(data))
    assert added.status_code == 201, added.text
    body = added.json()
    assert sorted(body["added"]) == sorted(PHOTOS) and body["skipped"] == [] == list(body["failed"])
    # nine faces: four of each man and a small face in the background of one group photo
    assert len(body["faces"]) == 9
    assert sorted(c["size"] for c in body["clusters"]) == [4, 4]
    assert body["cluster"]["new_clusters"] == [c["id"] for c in body["clusters"]]
    assert body["cluster"]["noise"] == 1
    assert {f["cluster_id"] for f in body["faces"]} == {c["id"] for c in body["clusters"]} | {None}

    # Obama's four faces are one person, Biden's the other
    obama, biden = _person_of(service, "obama_1.jpg"), _person_of(service, "biden_1.jpg")
    assert obama["id"] != biden["id"]
    assert sorted(f["source"] for f in obama["faces"]) == [
        "biden_left_obama_right.jpg",
        "obama_1.jpg",
        "obama_2.jpg",
        "obama_left_biden_right.jpg",
    ]
    left = next(f for f in obama["faces"] if f["source"] == "obama_left_biden_right.jpg")
    right = next(f for f in biden["faces"] if f["source"] == "obama_left_biden_right.jpg")
    assert left["box"][0] < right["box"][0]  # he is on the left of that photo
    assert obama["name"] is None and obama["promoted"] is False
    assert obama["representative"] in [f["id"] for f in obama["faces"]]

    summary = service.get("/v1/library").json()
    assert summary == {
        "library": True,
        "files": 6,
        "faces": 9,
        "clustered": 8,
        "unclustered": 1,
        "clusters": 2,
        "suggestions": 0,
        "model_version": summary["model_version"],
    }

    # the same photo again (another name, same pixels) is skipped; clusters stay
    again = service.post(
        "/v1/library/photos", files=[("image", ("copy.jpg", (data / "obama_1.jpg").read_bytes()))]
    )
    assert again.status_code == 201
    assert again.json()["skipped"] == ["copy.jpg"] and again.json()["faces"] == []
    assert service.get("/v1/library").json()["files"] == 6

    # a face's thumbnail is a JPEG crop
    from PIL import Image

    face = obama["faces"][0]
    thumbnail = service.get(face["thumbnail"])
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert thumbnail.content[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert image.format == "JPEG" and image.size == (112, 112)
    etag = thumbnail.headers["etag"]
    unchanged = service.get(face["thumbnail"], headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert service.get(f"/v1/library/faces/{face['id']}").json() == face
    assert error_code(service.get("/v1/library/faces/999/thumbnail")) == "unknown_face"
    assert error_code(service.get("/v1/library/clusters/999")) == "unknown_cluster"


def test_rename_split_suggest_reject_accept(service: Any, data: Path) -> None:
    assert service.post("/v1/library/photos", files=_files(data)).status_code == 201
    obama, biden = _person_of(service, "obama_1.jpg"), _person_of(service, "biden_1.jpg")

    # rename
    renamed = service.patch(f"/v1/library/clusters/{obama['id']}", json={"name": "Barack Obama"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Barack Obama"
    taken = service.patch(f"/v1/library/clusters/{biden['id']}", json={"name": "Barack Obama"})
    assert taken.status_code == 409 and error_code(taken) == "cluster_error"
    assert "merge" in taken.json()["error"]["message"]
    bad = service.patch(f"/v1/library/clusters/{biden['id']}", json={"name": "a/b"})
    assert error_code(bad) == "invalid_name"
    missing = service.patch("/v1/library/clusters/999", json={"name": "X"})
    assert missing.status_code == 404 and error_code(missing) == "unknown_cluster"

    # split two faces off: a new, unnamed person; the two halves look alike: a suggestion
    ids = [f["id"] for f in obama["faces"]]
    split = service.post(f"/v1/library/clusters/{obama['id']}/split", json={"face_ids": ids[2:]})
    assert split.status_code == 201, split.text
    parts = split.json()
    assert parts["cluster"]["size"] == 2 and parts["cluster"]["name"] == "Barack Obama"
    new = parts["new_cluster"]
    assert new["size"] == 2 and new["name"] is None
    moved = service.get(f"/v1/library/clusters/{new['id']}").json()
    assert [f["id"] for f in moved["faces"]] == ids[2:]
    refused = service.post(f"/v1/library/clusters/{new['id']}/split", json={"face_ids": ids[:1]})
    assert refused.status_code == 409 and "not in cluster" in refused.json()["error"]["message"]

    [suggestion] = service.get("/v1/library/suggestions").json()
    assert (suggestion["a"], suggestion["b"]) == (obama["id"], new["id"])
    assert suggestion["score"] > 0.55 and suggestion["faces"] == 0
    assert [c["id"] for c in suggestion["clusters"]] == [obama["id"], new["id"]]
    assert service.get("/v1/library").json()["suggestions"] == 1

    # reject: gone, and not suggested again after more clustering
    rejected = service.post(f"/v1/library/suggestions/{new['id']}/{obama['id']}/reject")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json() == {"a": obama["id"], "b": new["id"], "rejected": True}
    assert _suggested(service) == set()
    assert service.post("/v1/library/cluster").status_code == 200
    assert _suggested(service) == set()

    # split one more face off: suggested with both halves; accept one of them
    third = service.post(
        f"/v1/library/clusters/{obama['id']}/split", json={"face_ids": ids[1:2]}
    ).json()["new_cluster"]
    assert _suggested(service) == {(obama["id"], third["id"]), (new["id"], third["id"])}
    accepted = service.post(f"/v1/library/suggestions/{obama['id']}/{third['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    merged = accepted.json()
    # the named cluster keeps its id and name
    assert merged["id"] == obama["id"] and merged["name"] == "Barack Obama"
    assert merged["size"] == 2
    assert error_code(service.get(f"/v1/library/clusters/{third['id']}")) == "unknown_cluster"
    # the rejection carries over: "new" is still not suggested with the merged cluster
    assert _suggested(service) == set()

    # an explicit merge (the rejected pair is the user's call)
    joined = service.post(f"/v1/library/clusters/{obama['id']}/merge", json={"other": new["id"]})
    assert joined.status_code == 200 and joined.json()["size"] == 4
    itself = service.post(f"/v1/library/clusters/{obama['id']}/merge", json={"other": obama["id"]})
    assert error_code(itself) == "cluster_error"


def test_promote_then_identify_through_the_gallery(service: Any, data: Path) -> None:
    assert service.post("/v1/library/photos", files=_files(data)).status_code == 201
    obama, biden = _person_of(service, "obama_1.jpg"), _person_of(service, "biden_1.jpg")

    unnamed = service.post(f"/v1/library/clusters/{obama['id']}/promote", json={})
    assert error_code(unnamed) == "cluster_error" and "no name" in unnamed.text

    service.patch(f"/v1/library/clusters/{obama['id']}", json={"name": "Barack Obama"})
    promoted = service.post(
        f"/v1/library/clusters/{obama['id']}/promote", json={"collection": "default"}
    )
    assert promoted.status_code == 200, promoted.text
    body = promoted.json()
    assert body["subject"] == "Barack Obama" and body["added"] == 4
    assert body["collection"] == "default" and len(body["template_ids"]) == 4
    assert body["cluster"]["promoted"] is True and body["cluster"]["subject"] == "Barack Obama"
    # promoting again adds nothing: his faces are enrolled already
    assert service.post(f"/v1/library/clusters/{obama['id']}/promote", json={}).json()["added"] == 0

    subject = service.get("/v1/collections/default/subjects/Barack Obama").json()
    assert subject["templates"] == 4
    found = service.post("/v1/collections/default/identify", files=upload(data / "obama_2.jpg"))
    assert [f["identity"] for f in found.json()["faces"]] == ["Barack Obama"]
    stranger = service.post("/v1/collections/default/identify", files=upload(data / "biden_2.jpg"))
    assert [f["identity"] for f in stranger.json()["faces"]] == [None]

    # a name that differs from an enrolled subject only in case and spaces: 409
    similar = service.post(
        f"/v1/library/clusters/{biden['id']}/promote", json={"name": "barack  obama"}
    )
    assert similar.status_code == 409 and error_code(similar) == "similar_subject"
    unknown = service.post(
        f"/v1/library/clusters/{biden['id']}/promote", json={"name": "Joe", "collection": "nope"}
    )
    assert unknown.status_code == 404 and error_code(unknown) == "unknown_collection"

    # every change is audited; promotion under its collection
    entries = service.get("/v1/collections/default/audit").json()
    actions = [(e["action"], e["outcome"]) for e in entries]
    assert ("library_promote", "ok") in actions
    assert ("library_promote", "error:similar_subject") in actions


def test_upload_as_json_and_partial_failures(service: Any, data: Path) -> None:
    body = {"images": [b64(data / "obama_1.jpg"), b64(data / "biden_1.jpg")], "names": ["a.jpg"]}
    added = service.post("/v1/library/photos?cluster=false", json=body)
    assert added.status_code == 201, added.text
    result = added.json()
    assert result["added"] == ["a.jpg", "photo 2"] and result["cluster"] is None
    assert [f["cluster_id"] for f in result["faces"]] == [None, None]

    mixed = service.post(
        "/v1/library/photos?min_faces=1",
        files=[
            *_files(data, ("obama_2.jpg",)),
            ("image", ("notes.txt", b"hello", "text/plain")),
        ],
    )
    assert mixed.status_code == 201, mixed.text
    assert mixed.json()["added"] == ["obama_2.jpg"]
    assert "not a recognised image format" in mixed.json()["failed"]["notes.txt"]
    # min_faces=1: every face is someone; the two Obama photos are one person
    clusters = service.get("/v1/library/clusters").json()
    assert sorted(c["size"] for c in clusters) == [1, 2]

    only_bad = service.post(
        "/v1/library/photos", files=[("image", ("notes.txt", b"hello", "text/plain"))]
    )
    assert only_bad.status_code == 400 and error_code(only_bad) == "invalid_image"
    nothing = service.post("/v1/library/photos", json={"images": []})
    assert error_code(nothing) == "missing_image"
    form = service.post("/v1/library/photos", content=b"x", headers={"content-type": "text/plain"})
    assert form.status_code == 415
    assert service.post("/v1/library/photos?min_faces=0", json=body).status_code == 422


def _unit(degrees: float) -> np.ndarray:
    vector = np.zeros(128, np.float32)
    vector[0], vector[1] = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return vector


def test_linking_faces_suggest_and_a_rejection_is_remembered(tmp_path: Path) -> None:
    """Suggestions recorded while clustering; rejected, they never come back."""
    folder = tmp_path / "data" / "library"  # where the service keeps it by default
    with FaceLibrary.open(folder) as library:
        for angle in (-5, 0, 5, 85, 90, 95):
            library.add_embeddings(f"face {angle}", _unit(angle)[None])
        library.cluster(min_faces=3)
        library.add_embeddings("bridge", _unit(45)[None])
        library.cluster(min_faces=3)
    with client(tmp_path / "data") as api:
        [suggestion] = api.get("/v1/library/suggestions").json()
        assert (suggestion["a"], suggestion["b"], suggestion["faces"]) == (1, 2, 1)
        assert suggestion["score"] < 0.55  # suggested by the linking face, not by looks
        # faces added as embeddings have no thumbnail
        assert error_code(api.get("/v1/library/faces/1/thumbnail")) == "no_thumbnail"
        assert api.post("/v1/library/suggestions/1/2/reject").status_code == 200
        assert api.get("/v1/library/suggestions").json() == []
    with FaceLibrary.open(folder) as library:
        library.add_embeddings("another bridge", _unit(46)[None])
        report = library.cluster(min_faces=3)
        assert report.joined == 1 and report.suggestions == []
        assert library.suggestions() == []


def test_a_v1_library_is_upgraded(tmp_path: Path) -> None:
    """A library made before rejected suggestions existed opens, upgraded to v2."""
    folder = tmp_path / "lib"
    with FaceLibrary.open(folder) as library:
        library.add_embeddings("a", _unit(0)[None])
    db = sqlite3.connect(folder / "library.sqlite3")
    db.execute("DROP TABLE rejected_suggestions")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    with FaceLibrary.open(folder) as library:
        assert library.counts()["faces"] == 1
        assert library.suggestions() == []
    db = sqlite3.connect(folder / "library.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_library_scopes(tmp_path: Path, data: Path) -> None:
    state = ServiceState(tmp_path)
    reader, _ = state.create_key("viewer", "read")
    editor, _ = state.create_key("editor", "enrol")
    elsewhere, _ = state.create_key("site b", "enrol", ["site-b"])
    state.close()

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    with client(tmp_path) as api:
        assert api.get("/v1/library/clusters").status_code == 401
        assert api.get("/v1/library/clusters", headers=bearer(reader)).status_code == 200
        refused = api.post("/v1/library/photos", files=_files(data), headers=bearer(reader))
        assert refused.status_code == 403 and error_code(refused) == "forbidden"
        added = api.post("/v1/library/photos", files=_files(data), headers=bearer(editor))
        assert added.status_code == 201, added.text
        cluster = added.json()["clusters"][0]["id"]
        for method, path, body in (
            ("PATCH", f"/v1/library/clusters/{cluster}", {"name": "A"}),
            ("POST", f"/v1/library/clusters/{cluster}/split", {"face_ids": [1]}),
            ("POST", "/v1/library/suggestions/1/2/reject", None),
            ("POST", "/v1/library/cluster", None),
        ):
            response = api.request(method, path, json=body, headers=bearer(reader))
            assert response.status_code == 403, (method, path)
        assert (
            api.patch(
                f"/v1/library/clusters/{cluster}", json={"name": "A"}, headers=bearer(editor)
            ).status_code
            == 200
        )
        # promoting writes to a collection: the key must be allowed there
        denied = api.post(
            f"/v1/library/clusters/{cluster}/promote",
            json={"collection": "default"},
            headers=bearer(elsewhere),
        )
        assert denied.status_code == 403
        assert "collection 'default'" in denied.json()["error"]["message"]
        face = added.json()["faces"][0]["id"]
        thumbnail = api.get(f"/v1/library/faces/{face}/thumbnail", headers=bearer(reader))
        assert thumbnail.status_code == 200
        assert api.get(f"/v1/library/faces/{face}/thumbnail").status_code == 401


def test_serve_library_option_points_the_service_at_a_cli_library(
    tmp_path: Path, data: Path
) -> None:
    """`facescope cluster --library L` then a service with library=L shows those people."""
    from typer.testing import CliRunner

    from facescope.cli import app as cli

    library = tmp_path / "photos-library"
    made = CliRunner().invoke(cli, ["cluster", str(data), "-l", str(library)])
    assert made.exit_code == 0, made.output
    with client(tmp_path / "data", library=library) as api:
        clusters = api.get("/v1/library/clusters").json()
        assert sorted(c["size"] for c in clusters) == [4, 4]
        detail = api.get(f"/v1/library/clusters/{clusters[0]['id']}").json()
        # file names only: the server's folders are not shown
        assert all("/" not in f["source"] for f in detail["faces"])
    assert not (tmp_path / "data" / "library").exists()


def test_serve_passes_its_library_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`facescope serve --library DIR` serves that library; without it, DATA/library."""
    from typer.testing import CliRunner

    import facescope.service.server
    from facescope.cli import app as cli
    from facescope.models import consent

    monkeypatch.delenv(consent.DATA_ENV, raising=False)  # serve sets it: restored after
    served: list[Any] = []
    monkeypatch.setattr(
        facescope.service.server,
        "serve",
        lambda settings, host, port, **options: served.append(settings),
    )
    data = tmp_path / "data"
    for extra in ([], ["--library", str(tmp_path / "photos")]):
        result = CliRunner().invoke(cli, ["serve", "--data", str(data), *extra])
        assert result.exit_code == 0, result.output
    assert [s.library_path for s in served] == [data / "library", tmp_path / "photos"]
