"""End-to-end test of the web UI's Analysis view: the real server, driven by headless Chromium.

As ``test_service_ui.py`` (whose server and canvas helpers it uses): Debian's
``/usr/bin/chromium`` through Playwright, skipped without it unless
``FACESCOPE_REQUIRE_BROWSER=1``. The screenshot of an analysed photo goes to
``artifacts/ui/analysis.png`` and is copied to ``docs/ui_analysis.png``.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ui_harness import ARTIFACTS, ROOT, box_pixels, drop_file, open_page, serve
from video_scenes import clip

pytestmark = pytest.mark.slow  # drives headless Chromium

DOCS_SCREENSHOT = ROOT / "docs" / "ui_analysis.png"
#: ms for each UI expectation (a video job takes a few seconds on a loaded box)
TIMEOUT = 60_000
MESH = (120, 220, 255)
GAZE = (255, 64, 255)
EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


@pytest.fixture()
def analysis_page() -> Iterator[Any]:
    """A 1280x900 page in headless Chromium (downloads on); fails on any script error."""
    with open_page(TIMEOUT, accept_downloads=True) as page:
        yield page


def _cut_face(photo: Path, target: Path) -> Path:
    """`photo` with its face cut by the left border (the analysis reports it 'partial')."""
    from PIL import Image

    import facescope

    rgb = np.asarray(Image.open(photo).convert("RGB"))
    x1, _, x2, _ = facescope.analyze(rgb, expressions=False)[0].box
    Image.fromarray(np.ascontiguousarray(rgb[:, int(x1 + 0.3 * (x2 - x1)) :])).save(target)
    return target


def test_ui_analysis_photo_csv_liveness_video(
    analysis_page: Any, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd
    from playwright.sync_api import expect

    monkeypatch.delenv("FACESCOPE_PAD_MODEL", raising=False)  # the shipped, uncalibrated model
    page = analysis_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    video = clip(data / "obama_2.jpg", tmp_path / "obama_talking.avi")
    cut = _cut_face(data / "obama_1.jpg", tmp_path / "cut.png")
    with serve(tmp_path / "data") as base_url:
        page.goto(base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")

        # enrol Barack Obama, so that the video's track is named
        page.get_by_test_id("tab-enrol").click()
        page.get_by_test_id("enrol-name").fill("Barack Obama")
        page.get_by_test_id("enrol-files").set_input_files(data / "obama_1.jpg")
        page.get_by_test_id("enrol-submit").click()
        expect(page.get_by_test_id("enrol-result")).to_have_attribute("data-status", "ok")

        # ---- the Analysis tab, opened from the keyboard
        tab = page.get_by_test_id("tab-analysis")
        tab.focus()
        page.keyboard.press("Enter")
        expect(tab).to_have_attribute("aria-selected", "true")
        expect(page.get_by_test_id("view-analysis")).to_be_visible()
        expect(page.get_by_test_id("analysis-empty")).to_be_visible()
        expect(page.get_by_test_id("analysis-csv")).to_be_disabled()

        # ---- a photo with two faces: panels, bars, quality, and the drawing
        page.get_by_test_id("analysis-file").set_input_files(data / "obama_left_biden_right.jpg")
        face = page.get_by_test_id("analysis-face")
        expect(face).to_have_count(2)
        canvas = page.get_by_test_id("analysis-canvas")
        expect(canvas).to_have_attribute("data-drawn", "true")
        expect(canvas).to_have_attribute("data-faces", "2")
        for index in range(2):
            panel = face.nth(index)
            expect(panel.get_by_test_id("analysis-expression")).to_have_count(7)
            expect(panel.get_by_test_id("analysis-quality")).to_contain_text("quality")
            expect(panel.get_by_test_id("analysis-pose")).to_contain_text("yaw")
            expect(panel.get_by_test_id("analysis-gaze")).to_contain_text("pitch")
            assert panel.get_attribute("data-expression") in EXPRESSIONS
            assert 0 <= float(panel.get_attribute("data-quality")) <= 1
        expect(page.get_by_test_id("analysis-status")).to_contain_text("2 faces analysed")
        assert box_pixels(page, "analysis-canvas", MESH) > 300, "no mesh drawn"
        assert box_pixels(page, "analysis-canvas", GAZE) > 20, "no gaze arrows drawn"
        assert box_pixels(page, "analysis-canvas", (0, 200, 0)) > 20, "no head axes drawn"

        # ---- download the table as CSV (fetched with the key header, saved from a Blob)
        button = page.get_by_test_id("analysis-csv")
        expect(button).to_be_enabled()
        with page.expect_download() as download_info:
            button.click()
        download = download_info.value
        assert download.suggested_filename == "obama_left_biden_right_analysis.csv"
        table = pd.read_csv(io.StringIO(Path(download.path()).read_text()))
        assert len(table) == 2
        for column in ("input", "FaceRectX", "Pitch", "Yaw", "AU01", "happiness"):
            assert column in table.columns
        expect(page.get_by_test_id("analysis-status")).to_contain_text("Saved")

        # ---- a face cut by the border: what is missing is said, not hidden
        page.get_by_test_id("analysis-file").set_input_files(cut)
        missing = page.get_by_test_id("analysis-missing")
        expect(missing).to_have_count(1)
        expect(missing).to_contain_text("Not measured")
        expect(missing).to_contain_text("face cut by the image border")

        # ---- with the liveness check: the verdict and the Liveness tab's caveats
        page.get_by_test_id("analysis-liveness").check()
        drop_file(page, "analysis-drop", data / "obama_left_biden_right.jpg")
        expect(face).to_have_count(2)
        card = page.get_by_test_id("analysis-liveness-card")
        expect(card).to_be_visible()
        badge = page.get_by_test_id("analysis-pad-badge")
        expect(badge).to_have_text(re.compile(r"^(LIVE|ATTACK|UNCERTAIN)$"))
        calibration = page.get_by_test_id("analysis-pad-calibration")
        expect(calibration).to_contain_text("Not calibrated for this camera")
        expect(calibration).to_contain_text("facescope pad calibrate")
        expect(page.get_by_test_id("analysis-pad-explanation")).not_to_be_empty()
        expect(canvas).to_have_attribute("data-drawn", "true")
        assert box_pixels(page, "analysis-canvas", MESH) > 300
        shot = ARTIFACTS / "analysis.png"
        page.screenshot(path=str(shot), full_page=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)

        # ---- a short video: a job, its progress, then the named track
        page.get_by_test_id("analysis-file").set_input_files(video)
        job = page.get_by_test_id("analysis-job")
        expect(job).to_be_visible()
        expect(job).to_have_attribute("data-status", "done")
        expect(page.get_by_test_id("analysis-progress-text")).to_have_text("Read frame 20 of 20")
        assert page.get_by_test_id("analysis-progress").evaluate("(bar) => bar.value") == 1
        track = page.get_by_test_id("analysis-track")
        expect(track).to_have_count(1)
        expect(track.get_by_test_id("analysis-track-identity")).to_have_text("Barack Obama")
        expect(track).to_contain_text("mostly")
        note = page.get_by_test_id("analysis-tracks-note")
        expect(note).to_contain_text('searched in "default"')
        expect(note).to_contain_text("every 2nd frame")
        expect(page.get_by_test_id("analysis-cancel")).to_be_hidden()
        expect(page.get_by_test_id("analysis-status")).to_contain_text("1 recognised")
        expect(page.get_by_test_id("analysis-csv")).to_be_disabled()
        page.screenshot(path=str(ARTIFACTS / "analysis_video.png"), full_page=True)

        # ---- a corrupt video: the job's failure is shown
        page.get_by_test_id("analysis-file").set_input_files(
            {"name": "broken.mp4", "mimeType": "video/mp4", "buffer": bytes(3000)}
        )
        error = page.get_by_test_id("analysis-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("the video job failed")
        expect(error).to_contain_text("broken.mp4")

        # ---- not an image: the server's 400 is shown
        page.get_by_test_id("analysis-liveness").uncheck()
        page.get_by_test_id("analysis-file").set_input_files(
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
        )
        expect(error).to_contain_text("not a recognised image format")
        expect(face).to_have_count(0)


def test_ui_analysis_server_text_is_text_and_gaps_are_shown(
    analysis_page: Any, data: Path, tmp_path: Path
) -> None:
    """Answers (mocked): markup in server text stays text; absent measures are listed."""
    import json

    from playwright.sync_api import expect

    page = analysis_page
    face = {
        "face": 0,
        "box": [100.0, 60.0, 260.0, 260.0],
        "detector_score": 0.91,
        "landmarks5": [[150.0, 120.0]] * 5,
        "mesh": None,
        "mesh_inside": None,
        "landmarks68": None,
        "pose": None,
        "gaze": None,
        "eye_openness": None,
        "mouth_openness": None,
        "expressions": None,
        "valence": None,
        "arousal": None,
        "action_units": None,
        "quality": {"score": 0.21, "reasons": ["<b>too dark</b>"], "components": {}},
        "missing": {
            "mesh": "no mesh: profile, occluded or too small a face",
            "expressions": "<img src=x onerror=alert(1)> models unavailable",
        },
    }
    analysis = {
        "image": {"width": 384, "height": 480},
        "options": {"expressions": True, "landmarks68": False, "mesh": True, "max_faces": 20},
        "faces": [face],
    }
    polls = {"n": 0}

    def job(status: str) -> dict[str, Any]:
        done = status == "done"
        return {
            "id": "job-1",
            "kind": "video",
            "status": status,
            "filename": "<i>clip</i>.mp4",
            "size_bytes": 10,
            "options": {"collection": None, "stride": 2, "max_frames": 3000, "analysis": True},
            "created_at": 1.0,
            "started_at": 1.0,
            "finished_at": 2.0 if done else None,
            "progress": {"frames_done": 7, "frames_total": None, "fraction": None},
            "queue_position": None,
            "error": None,
            "result": {
                "fps": 25.0,
                "frames": 7,
                "width": 64,
                "height": 64,
                "stride": 2,
                "model": "sface",
                "collection": None,
                "fpir": None,
                "ended_early": "<script>x</script> truncated",
                "tracks": [],
            }
            if done
            else None,
        }

    def jobs_route(route: Any) -> None:
        if route.request.method == "POST":
            body = job("queued")
            route.fulfill(status=202, content_type="application/json", body=json.dumps(body))
            return
        polls["n"] += 1
        body = job("running" if polls["n"] < 3 else "done")
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    with serve(tmp_path / "data") as base_url:
        page.route(
            "**/v1/analyze*",
            lambda route: route.fulfill(
                status=200, content_type="application/json", body=json.dumps(analysis)
            ),
        )
        page.route("**/v1/jobs/**", jobs_route)
        page.goto(base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        page.get_by_test_id("tab-analysis").click()
        page.get_by_test_id("analysis-file").set_input_files(data / "obama_1.jpg")
        panel = page.get_by_test_id("analysis-face")
        expect(panel).to_have_count(1)
        missing = panel.get_by_test_id("analysis-missing")
        expect(missing).to_contain_text("mesh: no mesh: profile, occluded or too small a face")
        expect(missing).to_contain_text("<img src=x onerror=alert(1)> models unavailable")
        assert missing.locator("img").count() == 0
        reasons = panel.get_by_test_id("analysis-quality-reasons")
        expect(reasons).to_have_text("<b>too dark</b>")
        assert reasons.locator("b").count() == 0
        expect(panel).to_contain_text("expressions not measured")
        expect(page.get_by_test_id("analysis-canvas")).to_have_attribute("data-drawn", "true")
        assert box_pixels(page, "analysis-canvas", MESH) == 0  # no mesh: none drawn

        # a job whose container does not say its length: an indeterminate bar, then no track
        page.get_by_test_id("analysis-file").set_input_files(
            {"name": "clip.webm", "mimeType": "video/webm", "buffer": b"fake"}
        )
        expect(page.get_by_test_id("analysis-job")).to_have_attribute("data-status", "done")
        expect(page.get_by_test_id("analysis-progress-text")).to_have_text("7 frames read")
        expect(page.get_by_test_id("analysis-tracks")).to_contain_text(
            "No face was tracked in this video."
        )
        note = page.get_by_test_id("analysis-tracks-note")
        expect(note).to_contain_text("<script>x</script> truncated")
        expect(page.get_by_test_id("analysis-status")).to_contain_text("<i>clip</i>.mp4")
        assert page.locator("#view-analysis script, #view-analysis i").count() == 0
