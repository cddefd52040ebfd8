"""End-to-end test of the web UI: the real server, driven by headless Chromium.

The browser is Debian's system Chromium (``/usr/bin/chromium``), run by Playwright
for Python; nothing is downloaded. Without that browser the test is skipped, unless
``FACESCOPE_REQUIRE_BROWSER=1`` makes it a failure. Screenshots go to
``artifacts/ui/``; the one of a two-face identification is copied to ``docs/ui.png``
for the README.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_harness import ARTIFACTS, ROOT, box_pixels, drop_file, get_json, open_page, serve

pytestmark = pytest.mark.slow  # drives headless Chromium

DOCS_SCREENSHOT = ROOT / "docs" / "ui.png"
#: ms for each UI expectation: inference takes ~0.1-1 s here, allow for a loaded CI box
TIMEOUT = 30_000


@pytest.fixture()
def page() -> Iterator[Any]:
    """A 1280x900 page in headless Chromium; fails the test on any script error."""
    with open_page(TIMEOUT) as opened:
        yield opened


def _shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def test_ui_enrol_identify_compare_delete(page: Any, data: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve(tmp_path / "data") as base_url:
        # ---- start: open service, default collection, operating points shown
        page.goto(base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=TIMEOUT)
        expect(page.get_by_test_id("auth-status")).to_have_text("open: no key needed")
        expect(page.get_by_test_id("collection")).to_have_value("default")
        expect(page.get_by_test_id("operating-point")).to_have_count(3)
        expect(page.get_by_test_id("identify-threshold")).to_contain_text("FPIR 1%")

        # ---- enrol Barack Obama from one photo
        page.get_by_test_id("tab-enrol").click()
        page.get_by_test_id("enrol-name").fill("Barack Obama")
        page.get_by_test_id("enrol-files").set_input_files(data / "obama_1.jpg")
        page.get_by_test_id("enrol-submit").click()
        result = page.get_by_test_id("enrol-result")
        expect(result).to_have_count(1)
        expect(result).to_have_attribute("data-status", "ok", timeout=TIMEOUT)
        expect(result).to_contain_text("enrolled for Barack Obama")
        _shot(page, "enrol.png")

        # the same photo again: the server's 409 message is shown, not swallowed
        page.get_by_test_id("enrol-files").set_input_files(data / "obama_1.jpg")
        page.get_by_test_id("enrol-submit").click()
        expect(result).to_have_attribute("data-status", "error", timeout=TIMEOUT)
        expect(result).to_contain_text("already enrolled")
        expect(result).to_contain_text("409")

        # ---- People lists the subject with its one template
        page.get_by_test_id("tab-people").click()
        person = page.get_by_test_id("person")
        expect(person).to_have_count(1)
        expect(person.get_by_test_id("person-name")).to_have_text("Barack Obama")
        expect(person.get_by_test_id("person-templates")).to_have_text("1")
        expect(page.get_by_test_id("people-count")).to_have_text("1")

        # ---- identify another photo of him: recognised, boxed on the canvas
        page.get_by_test_id("tab-identify").click()
        page.get_by_test_id("identify-file").set_input_files(data / "obama_2.jpg")
        face = page.get_by_test_id("identify-face")
        expect(face).to_have_count(1, timeout=TIMEOUT)
        expect(face).to_have_attribute("data-recognised", "true")
        expect(face.get_by_test_id("face-identity")).to_have_text("Barack Obama")
        expect(face.get_by_test_id("candidate").first).to_contain_text("Barack Obama")
        threshold = page.get_by_test_id("identify-threshold")
        expect(threshold).to_contain_text("a stranger is taken for someone enrolled")
        expect(threshold).to_contain_text("FPIR 1%")
        # the rule is stated next to the decision: one subject enrolled, FPIR 1%
        expect(page.get_by_test_id("identify-rule")).to_contain_text(
            "1:N among 1 subject at FPIR 1%"
        )
        expect(face.get_by_test_id("face-verdict")).to_contain_text("rule: 1:N among 1 subject")
        assert _green_pixels(page) > 200, "no green box drawn around the recognised face"
        _shot(page, "identify_obama.png")

        # a face nobody enrolled, dropped onto the drop zone: unknown
        drop_file(page, "identify-drop", data / "biden_1.jpg")
        expect(face.get_by_test_id("face-identity")).to_have_text("unknown", timeout=TIMEOUT)
        expect(face).to_have_attribute("data-recognised", "false")
        expect(face.get_by_test_id("face-verdict")).to_contain_text("< threshold")
        _shot(page, "identify_biden.png")

        # two faces: him recognised, the other unknown (the README's screenshot)
        page.get_by_test_id("identify-file").set_input_files(data / "obama_left_biden_right.jpg")
        expect(face).to_have_count(2, timeout=TIMEOUT)
        expect(face.nth(0).get_by_test_id("face-identity")).to_have_text("Barack Obama")
        expect(face.nth(0)).to_have_attribute("data-recognised", "true")
        expect(face.nth(1).get_by_test_id("face-identity")).to_have_text("unknown")
        assert _green_pixels(page) > 200
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(_shot(page, "identify.png"), DOCS_SCREENSHOT)

        # not an image: the server's message is shown
        page.get_by_test_id("identify-file").set_input_files(
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
        )
        error = page.get_by_test_id("identify-error")
        expect(error).to_be_visible(timeout=TIMEOUT)
        expect(error).to_contain_text("not a recognised image format")
        expect(face).to_have_count(0)

        # ---- compare two photos of him at FMR 1e-3
        page.get_by_test_id("tab-compare").click()
        page.get_by_test_id("compare-file-a").set_input_files(data / "obama_1.jpg")
        page.get_by_test_id("compare-file-b").set_input_files(data / "obama_2.jpg")
        page.get_by_test_id("compare-fmr").select_option("0.001")
        page.get_by_test_id("compare-submit").click()
        expect(page.get_by_test_id("compare-verdict")).to_have_text("Same person", timeout=TIMEOUT)
        expect(page.get_by_test_id("compare-meaning")).to_contain_text(
            "about 1 in 1,000 pairs of different people would be accepted"
        )
        from facescope.match.thresholds import load_calibration, verification_rule

        rule = verification_rule(load_calibration(), "sface", 1e-3)
        expect(page.get_by_test_id("compare-threshold")).to_have_text(f"{rule.threshold:.3f}")
        expect(page.get_by_test_id("compare-rule")).to_have_text(f"Rule: {rule.describe()}")
        _shot(page, "compare.png")

        # ---- delete him from People, after the in-page confirmation
        page.get_by_test_id("tab-people").click()
        expect(person).to_have_count(1)
        person.get_by_test_id("person-delete").click()
        dialog = page.get_by_test_id("confirm-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Delete Barack Obama?")
        _shot(page, "delete_confirm.png")
        page.get_by_test_id("confirm-ok").click()
        expect(dialog).to_be_hidden()
        expect(person).to_have_count(0, timeout=TIMEOUT)
        expect(page.get_by_test_id("people-empty")).to_be_visible()
        expect(page.get_by_test_id("people-status")).to_contain_text("Deleted Barack Obama")
        expect(page.get_by_test_id("people-error")).to_be_hidden()
        _shot(page, "people_after_delete.png")

        assert get_json(base_url, "/v1/collections/default/subjects") == []


def test_ui_api_key(page: Any, data: Path, tmp_path: Path) -> None:
    """With keys configured: the page asks for one, sends it as a bearer token, shows refusals."""
    from playwright.sync_api import expect

    from facescope.service.state import ServiceState

    state = ServiceState(tmp_path / "data")
    token, _ = state.create_key("ui test", "read")
    state.close()
    with serve(tmp_path / "data") as base_url:
        page.goto(base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=TIMEOUT)
        badge = page.get_by_test_id("auth-status")
        expect(badge).to_have_text("key required")
        expect(page.get_by_test_id("global-error")).to_contain_text("an API key is required")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        _shot(page, "api_key_required.png")

        page.get_by_test_id("api-key").fill("fsk_000000000000_wrong")
        page.get_by_test_id("api-key-apply").click()
        expect(badge).to_have_text("key refused")
        expect(page.get_by_test_id("global-error")).to_contain_text("unknown or revoked API key")

        page.get_by_test_id("api-key").fill(token)
        page.get_by_test_id("api-key-apply").click()
        expect(badge).to_have_text("key accepted")
        expect(page.get_by_test_id("global-error")).to_be_hidden()
        expect(page.get_by_test_id("operating-point")).to_have_count(3)
        assert page.evaluate("sessionStorage.getItem('facescope.apiKey')") == token

        # a read-only key may identify but not enrol: the 403 message is shown
        page.get_by_test_id("identify-file").set_input_files(data / "obama_2.jpg")
        face = page.get_by_test_id("identify-face")
        expect(face.get_by_test_id("face-identity")).to_have_text("unknown", timeout=TIMEOUT)
        page.get_by_test_id("tab-enrol").click()
        page.get_by_test_id("enrol-name").fill("Barack Obama")
        page.get_by_test_id("enrol-files").set_input_files(data / "obama_1.jpg")
        page.get_by_test_id("enrol-submit").click()
        result = page.get_by_test_id("enrol-result")
        expect(result).to_have_attribute("data-status", "error", timeout=TIMEOUT)
        expect(result).to_contain_text("may not change collection 'default'")
        expect(result).to_contain_text("403")

        # the key survives a reload (sessionStorage), and is what the page sends
        page.reload()
        expect(page.get_by_test_id("auth-status")).to_have_text("key accepted")
        expect(page.get_by_test_id("api-key")).to_have_value(token)


def test_ui_liveness(
    page: Any, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Liveness tab: the verdict of POST /v1/pad, its calibration status, the boxed face."""
    from PIL import Image
    from playwright.sync_api import expect

    import facescope.pad

    monkeypatch.delenv("FACESCOPE_PAD_MODEL", raising=False)  # the shipped, uncalibrated model
    photo = data / "obama_1.jpg"
    expected = facescope.pad.check(photo)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve(tmp_path / "data") as base_url:
        page.goto(base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=TIMEOUT)
        tab = page.get_by_test_id("tab-liveness")
        expect(tab).to_have_attribute("role", "tab")
        expect(tab).to_have_attribute("aria-controls", "view-liveness")
        # keyboard-reachable: a focusable tab that Enter opens
        tab.focus()
        page.keyboard.press("Enter")
        expect(tab).to_have_attribute("aria-selected", "true")
        expect(page.get_by_test_id("view-liveness")).to_be_visible()
        expect(page.get_by_test_id("view-identify")).to_be_hidden()

        page.get_by_test_id("liveness-file").set_input_files(photo)
        result = page.get_by_test_id("liveness-result")
        expect(result).to_be_visible(timeout=TIMEOUT)
        badge = page.get_by_test_id("liveness-badge")
        assert expected.decision in {"live", "attack", "uncertain"}
        expect(badge).to_have_text(expected.decision.upper())
        expect(result).to_have_attribute("data-decision", expected.decision)
        calibration = page.get_by_test_id("liveness-calibration")
        expect(calibration).to_contain_text("Not calibrated for this camera")
        expect(calibration).to_contain_text("facescope pad calibrate")
        shown = float(page.get_by_test_id("liveness-probability").inner_text())
        assert abs(shown - expected.live_probability) <= 0.005
        threshold = float(page.get_by_test_id("liveness-threshold").inner_text())
        assert abs(threshold - expected.threshold) <= 0.005
        band = page.get_by_test_id("liveness-band")
        if expected.decision == "uncertain":
            expect(band).to_contain_text("not reliable")
        else:
            expect(band).to_be_hidden()
        expect(page.get_by_test_id("liveness-explanation")).to_have_text(expected.explanation)
        expect(page.get_by_test_id("liveness-cue")).to_have_count(len(expected.evidence))
        colour = {"live": (22, 163, 74), "attack": (220, 38, 38), "uncertain": (245, 158, 11)}
        assert box_pixels(page, "liveness-canvas", colour[expected.decision]) > 200, (
            "no face box drawn"
        )
        _shot(page, "liveness.png")

        # a flat grey image has no face: the server's 422 is shown, the verdict is not
        grey = tmp_path / "grey.png"
        Image.new("RGB", (320, 240), (128, 128, 128)).save(grey)
        page.get_by_test_id("liveness-file").set_input_files(grey)
        error = page.get_by_test_id("liveness-error")
        expect(error).to_be_visible(timeout=TIMEOUT)
        expect(error).to_contain_text("422")
        expect(error).to_contain_text("no_face")
        expect(result).to_be_hidden()

        # not an image at all
        page.get_by_test_id("liveness-file").set_input_files(
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}
        )
        expect(error).to_contain_text("not a recognised image format", timeout=TIMEOUT)
        expect(result).to_be_hidden()


def test_ui_liveness_uncertain_and_calibrated(page: Any, data: Path, tmp_path: Path) -> None:
    """The uncertain band, a calibrated threshold and server text shown as text (never markup)."""
    from playwright.sync_api import expect

    answer: dict[str, Any] = {
        "image": {"width": 400, "height": 500},
        "box": [100.0, 120.0, 260.0, 320.0],
        "live_probability": 0.4321,
        "threshold": 0.5,
        "is_live": False,
        "decision": "uncertain",
        "uncertain_band": [0.2, 0.8],
        "attack_type": "unknown",
        "attack_probabilities": {"print": 0.5679},
        "evidence": [
            {
                "cue": "<b>moire</b>",
                "value": 0.3,
                "unit": "",
                "indicates": "attack",
                "why": "screen pattern",
                "weight": -1.25,
            }
        ],
        "heatmap": None,
        "explanation": "<img src=x onerror=alert(1)> uncertain",
        "calibrated": True,
        "threshold_source": "site captures <2024>",
    }
    with serve(tmp_path / "data") as base_url:
        page.route(
            "**/v1/pad",
            lambda route: route.fulfill(
                status=200, content_type="application/json", body=json.dumps(answer)
            ),
        )
        page.goto(base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=TIMEOUT)
        page.get_by_test_id("tab-liveness").click()
        page.get_by_test_id("liveness-file").set_input_files(data / "obama_1.jpg")
        expect(page.get_by_test_id("liveness-badge")).to_have_text("UNCERTAIN", timeout=TIMEOUT)
        expect(page.get_by_test_id("liveness-probability")).to_have_text("0.432")
        expect(page.get_by_test_id("liveness-band")).to_contain_text("[0.200, 0.800)")
        expect(page.get_by_test_id("liveness-calibration")).to_have_text(
            "Calibrated on this deployment's captures (site captures <2024>)"
        )
        explanation = page.get_by_test_id("liveness-explanation")
        expect(explanation).to_have_text("<img src=x onerror=alert(1)> uncertain")
        assert explanation.locator("img").count() == 0
        cue = page.get_by_test_id("liveness-cue")
        expect(cue).to_have_count(1)
        expect(cue).to_contain_text("<b>moire</b>")
        expect(cue).to_contain_text("-1.25")
        assert cue.locator("b").count() == 0
        assert box_pixels(page, "liveness-canvas", (245, 158, 11)) > 200


def _green_pixels(page: Any) -> int:
    """Pixels of the identify canvas in the 'recognised' box colour (#16a34a)."""
    return box_pixels(page, "identify-canvas", (22, 163, 74))
