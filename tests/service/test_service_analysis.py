"""Facial analysis over REST: POST /v1/analyze (JSON and CSV) and the video jobs under /v1/jobs."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_helpers import b64, client, error_code, upload
from video_scenes import clip

from facescope.service.state import ServiceState

#: The talking-head clip of the shared test data, used when present.
SHARED_CLIP = Path(__file__).resolve().parents[2] / "../shared/testdata/video/talking_head_1.mp4"


@pytest.fixture()
def obama_clip(data: Path, tmp_path: Path) -> Path:
    return clip(data / "obama_2.jpg", tmp_path / "obama.avi")


def _video(path: Path) -> dict[str, tuple[str, bytes, str]]:
    return {"video": (path.name, path.read_bytes(), "video/x-msvideo")}


def _wait(test_client: Any, job_id: str, headers: dict[str, str] | None = None) -> list[dict]:
    """Poll a job until it ends; every answer seen, in order."""
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = test_client.get(f"/v1/jobs/{job_id}", headers=headers or {})
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if seen[-1]["status"] in ("done", "failed", "cancelled"):
            return seen
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not end within 120 s: {seen[-1]}")


def _uploads(data: Path) -> list[Path]:
    return [p for p in (data / "tmp" / "jobs").rglob("*") if p.is_file()]


@pytest.fixture()
def service_app(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    folder = tmp_path / "data"
    with client(folder) as test_client:
        yield test_client, folder


# ---- a photo ---------------------------------------------------------------------------


def test_analyze_photo_json(service: Any, data: Path) -> None:
    response = service.post("/v1/analyze", files=upload(data / "obama_left_biden_right.jpg"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image"]["width"] > 0 and body["options"]["expressions"] is True
    faces = body["faces"]
    assert len(faces) == 2
    assert faces[0]["box"][0] < faces[1]["box"][0]  # left to right
    for face in faces:
        assert len(face["box"]) == 4
        assert len(face["mesh"]) == 478 and len(face["mesh"][0]) == 3
        probabilities = face["expressions"]["probabilities"]
        assert len(probabilities) == 7
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=2e-3)
        assert face["expressions"]["top"] == max(probabilities, key=probabilities.get)
        assert {"yaw", "pitch", "roll"} <= set(face["pose"])
        assert len(face["pose"]["axes"]) == 4  # origin and three axis tips
        assert len(face["gaze"]["rays"]) == 2
        assert 0 <= face["quality"]["score"] <= 1
        assert isinstance(face["quality"]["reasons"], list)
        assert face["eye_openness"]["left"] > 0 and face["mouth_openness"] is not None
        assert -1 <= face["valence"] <= 1 and -1 <= face["arousal"] <= 1
        assert "AU12" in face["action_units"]
        assert face["missing"] == {}


def test_analyze_options(service: Any, data: Path) -> None:
    response = service.post(
        "/v1/analyze?expressions=false&mesh=false&max_faces=1",
        files=upload(data / "obama_left_biden_right.jpg"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["options"] == {
        "expressions": False,
        "landmarks68": False,
        "mesh": False,
        "max_faces": 1,
    }
    (face,) = body["faces"]
    assert face["mesh"] is None and face["expressions"] is None
    assert face["pose"] is not None  # the mesh was measured, only left out of the answer
    # the same photo as base64 in a JSON body
    response = service.post(
        "/v1/analyze?expressions=false", json={"image": b64(data / "obama_1.jpg")}
    )
    assert response.status_code == 200 and len(response.json()["faces"]) == 1


def test_analyze_csv(service: Any, data: Path) -> None:
    import pandas as pd

    response = service.post("/v1/analyze?format=csv", files=upload(data / "obama_1.jpg"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="obama_1_analysis.csv"' in response.headers["content-disposition"]
    table = pd.read_csv(io.StringIO(response.text))
    assert len(table) == 1
    for column in ("input", "FaceRectX", "FaceRectWidth", "Pitch", "Roll", "Yaw", "AU01", "AU12"):
        assert column in table.columns
    assert set(table["input"]) == {"obama_1.jpg"}
    assert table.loc[0, "FaceRectWidth"] > 20
    expressions = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    assert table.loc[0, expressions].sum() == pytest.approx(1.0, abs=1e-3)


def test_analyze_csv_names_no_formula(service: Any, data: Path) -> None:
    """The upload's name goes into the table and a header: plain characters only."""
    import pandas as pd

    photo = (data / "obama_1.jpg").read_bytes()
    response = service.post(
        "/v1/analyze?format=csv",
        files={"image": ('=cmd|"/c calc"!A1\r\n.jpg', photo, "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert "\r" not in disposition and '"' not in disposition.split('filename="', 1)[1][:-1]
    source = pd.read_csv(io.StringIO(response.text))["input"][0]
    assert not source.startswith(("=", "+", "-", "@"))


def test_analyze_bad_input(service: Any, data: Path) -> None:
    response = service.post("/v1/analyze", files={"image": ("x.jpg", b"hello", "image/jpeg")})
    assert response.status_code == 400 and error_code(response) == "invalid_image"
    truncated = (data / "obama_1.jpg").read_bytes()[:500]
    response = service.post("/v1/analyze", files={"image": ("t.jpg", truncated, "image/jpeg")})
    assert response.status_code == 400 and error_code(response) == "invalid_image"
    response = service.post("/v1/analyze", files={"other": ("x.jpg", b"x", "image/jpeg")})
    assert response.status_code == 422
    response = service.post("/v1/analyze?format=xml", files=upload(data / "obama_1.jpg"))
    assert response.status_code == 422 and error_code(response) == "invalid_request"


def test_analyze_no_face_is_an_empty_list(service: Any) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buffer, "PNG")
    response = service.post(
        "/v1/analyze", files={"image": ("grey.png", buffer.getvalue(), "image/png")}
    )
    assert response.status_code == 200
    assert response.json()["faces"] == []


def test_analyze_too_large(tmp_path: Path, data: Path) -> None:
    with client(tmp_path / "data", max_pixels=10_000) as test_client:
        response = test_client.post("/v1/analyze", files=upload(data / "obama_1.jpg"))
    assert response.status_code == 413 and error_code(response) == "image_too_large"


def test_analyze_too_many_faces(tmp_path: Path, data: Path) -> None:
    with client(tmp_path / "data", max_faces=1) as test_client:
        photo = upload(data / "obama_left_biden_right.jpg")
        response = test_client.post("/v1/analyze", files=photo)
        assert response.status_code == 422 and error_code(response) == "too_many_faces"
        # asking for the largest face only is fine
        response = test_client.post("/v1/analyze?max_faces=1", files=photo)
        assert response.status_code == 200 and len(response.json()["faces"]) == 1


# ---- video jobs ------------------------------------------------------------------------


def test_video_job_tracks_and_identities(
    service_app: tuple[Any, Path], data: Path, obama_clip: Path
) -> None:
    test_client, folder = service_app
    enrolled = test_client.post(
        "/v1/collections/default/subjects/Barack%20Obama/faces", files=upload(data / "obama_1.jpg")
    )
    assert enrolled.status_code in (200, 201), enrolled.text
    response = test_client.post(
        "/v1/jobs/video?collection=default&analysis=true&stride=2", files=_video(obama_clip)
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] in ("queued", "running") and len(job["id"]) >= 20
    assert job["options"] == {
        "collection": "default",
        "stride": 2,
        "max_frames": 3000,
        "analysis": True,
    }
    seen = _wait(test_client, job["id"])
    statuses = [answer["status"] for answer in seen]
    assert statuses[-1] == "done", seen[-1]
    assert set(statuses) <= {"queued", "running", "done"}
    done = seen[-1]
    assert done["progress"]["frames_done"] == done["progress"]["frames_total"] == 20
    assert done["progress"]["fraction"] == 1.0
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]
    result = done["result"]
    assert result["frames"] == 20 and result["collection"] == "default"
    (track,) = result["tracks"]
    assert track["identity"] == "Barack Obama"
    assert track["score"] > track["threshold"]
    assert track["candidates"][0]["identity"] == "Barack Obama"
    assert track["first_frame"] == 0 and track["last_frame"] >= 16
    assert track["boxes"] and track["boxes"][0]["frame"] == 0
    assert all(b["frame"] % 2 == 0 for b in track["boxes"])
    summary = track["analysis"]
    assert summary["frames"] >= 8
    assert sum(summary["expressions"].values()) == pytest.approx(1.0, abs=2e-3)
    assert summary["top_expression"] in summary["expressions"]
    assert summary["yaw"] is not None and 0 < summary["quality"] <= 1
    # the upload was deleted when the job ended
    assert _uploads(folder) == []
    # listed for its owner
    listed = test_client.get("/v1/jobs").json()
    assert [j["id"] for j in listed] == [job["id"]]


def test_video_job_progress_on_shared_clip(service_app: tuple[Any, Path]) -> None:
    """A real talking-head clip: the job reports its progress while running."""
    if not SHARED_CLIP.is_file():
        pytest.skip(f"shared test clip not found at {SHARED_CLIP}")
    test_client, folder = service_app
    response = test_client.post(
        "/v1/jobs/video?max_frames=60",
        files={"video": (SHARED_CLIP.name, SHARED_CLIP.read_bytes(), "video/mp4")},
    )
    assert response.status_code == 202
    seen = _wait(test_client, response.json()["id"])
    assert seen[-1]["status"] == "done", seen[-1]
    done = [answer["progress"]["frames_done"] for answer in seen]
    assert done == sorted(done) and done[-1] == 60
    (track,) = seen[-1]["result"]["tracks"]
    assert track["identity"] is None and track["analysis"] is None
    assert seen[-1]["result"]["fps"] == pytest.approx(30.0)
    assert _uploads(folder) == []


def test_video_job_corrupt_fails_with_message(service_app: tuple[Any, Path]) -> None:
    test_client, folder = service_app
    junk = {"video": ("broken.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(4000), "video/mp4")}
    response = test_client.post("/v1/jobs/video", files=junk)
    assert response.status_code == 202
    seen = _wait(test_client, response.json()["id"])
    final = seen[-1]
    assert final["status"] == "failed" and final["result"] is None
    assert final["error"].startswith("broken.mp4:")  # the upload's name, not the server path
    assert str(folder) not in final["error"] and "tmp/jobs" not in final["error"]
    assert _uploads(folder) == []
    # the service still works
    assert test_client.get("/v1/jobs").status_code == 200


def test_video_job_not_a_video_and_empty(service: Any) -> None:
    response = service.post("/v1/jobs/video", files={"video": ("a.mp4", b"", "video/mp4")})
    assert response.status_code == 400
    response = service.post("/v1/jobs/video", files={"image": ("a.mp4", b"x", "video/mp4")})
    assert response.status_code == 422 and error_code(response) == "invalid_request"
    response = service.post("/v1/jobs/video", json={"note": "no file"})
    assert response.status_code == 422 and error_code(response) == "missing_video"
    response = service.post("/v1/jobs/video?stride=0", files={"video": ("a.mp4", b"x", "v/m")})
    assert response.status_code == 422
    response = service.post(
        "/v1/jobs/video?collection=nobody", files={"video": ("a.mp4", b"x", "video/mp4")}
    )
    assert response.status_code == 404 and error_code(response) == "unknown_collection"


def test_unknown_job(service: Any) -> None:
    for method in ("get", "delete"):
        response = getattr(service, method)("/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA")
        assert response.status_code == 404 and error_code(response) == "unknown_job"


def test_video_job_queue_cancel_and_limit(tmp_path: Path, obama_clip: Path, data: Path) -> None:
    folder = tmp_path / "data"
    long_clip = clip(data / "obama_1.jpg", tmp_path / "long.avi", seconds=12)
    with client(folder, max_jobs=2) as test_client:
        first = test_client.post("/v1/jobs/video", files=_video(long_clip)).json()
        second = test_client.post("/v1/jobs/video", files=_video(obama_clip))
        assert second.status_code == 202
        second_job = second.json()
        assert second_job["status"] == "queued" and second_job["queue_position"] in (0, 1)
        third = test_client.post("/v1/jobs/video", files=_video(obama_clip))
        assert third.status_code == 429 and error_code(third) == "job_queue_full"
        assert "Retry-After" in third.headers
        # cancel the queued job: gone at once, its upload deleted
        deleted = test_client.delete(f"/v1/jobs/{second_job['id']}")
        assert deleted.status_code == 200
        assert deleted.json() == {"id": second_job["id"], "status": "queued", "deleted": True}
        assert test_client.get(f"/v1/jobs/{second_job['id']}").status_code == 404
        assert len(_uploads(folder)) <= 1  # only the running job's upload is left
        # cancel the running job: it stops, and its upload is deleted
        assert test_client.delete(f"/v1/jobs/{first['id']}").status_code == 200
        deadline = time.monotonic() + 60
        while _uploads(folder) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _uploads(folder) == []
        assert test_client.get("/v1/jobs").json() == []
    assert not (folder / "tmp" / "jobs").exists() or not any((folder / "tmp" / "jobs").iterdir())


def test_jobs_and_analysis_respect_keys(tmp_path: Path, data: Path, obama_clip: Path) -> None:
    folder = tmp_path / "data"
    state = ServiceState(folder)
    token_a, _ = state.create_key("analyst a", "read")
    token_b, _ = state.create_key("analyst b", "read")
    site_only, _ = state.create_key("site a only", "read", ["site-a"])
    state.close()
    a = {"Authorization": f"Bearer {token_a}"}
    b = {"X-API-Key": token_b}
    with client(folder) as test_client:
        # no key: 401 everywhere
        assert (
            test_client.post("/v1/analyze", files=upload(data / "obama_1.jpg")).status_code == 401
        )
        assert test_client.post("/v1/jobs/video", files=_video(obama_clip)).status_code == 401
        assert test_client.get("/v1/jobs").status_code == 401
        assert test_client.get("/v1/jobs/whatever").status_code == 401
        # a read key may analyse
        response = test_client.post("/v1/analyze", files=upload(data / "obama_1.jpg"), headers=a)
        assert response.status_code == 200
        # a key limited to another collection may not identify against 'default'
        response = test_client.post(
            "/v1/jobs/video?collection=default",
            files=_video(obama_clip),
            headers={"Authorization": f"Bearer {site_only}"},
        )
        assert response.status_code == 403 and error_code(response) == "forbidden"
        # a job is its submitter's: another key sees nothing and cannot delete it
        job = test_client.post("/v1/jobs/video", files=_video(obama_clip), headers=a).json()
        assert test_client.get(f"/v1/jobs/{job['id']}", headers=b).status_code == 404
        assert test_client.delete(f"/v1/jobs/{job['id']}", headers=b).status_code == 404
        assert test_client.get("/v1/jobs", headers=b).json() == []
        assert _wait(test_client, job["id"], a)[-1]["status"] == "done"
        # submissions and analyses are in the audit log
        audit = ServiceState(folder)
        actions = [entry.action for entry in audit.audit_entries(limit=50)]
        audit.close()
        assert "analyze" in actions and "video_job" in actions
        assert "denied" in actions
