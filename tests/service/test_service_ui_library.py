"""The web UI's "Photo library" view, end to end: the real server driven by headless Chromium.

Upload photos, see the people found, rename, split, accept and reject merge
suggestions, promote a person into the gallery, then check it through the REST
API. Like ``test_service_ui.py``: Debian's ``/usr/bin/chromium`` run by Playwright,
skipped without it unless ``FACESCOPE_REQUIRE_BROWSER=1``. The people grid's
screenshot goes to ``artifacts/ui/library.png`` and ``docs/ui_library.png``.
"""

from __future__ import annotations

import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_harness import ARTIFACTS, ROOT, get_json, open_page, serve

pytestmark = pytest.mark.slow  # drives headless Chromium

DOCS_SCREENSHOT = ROOT / "docs" / "ui_library.png"
#: ms for each UI expectation: uploading six photos takes a few seconds here
TIMEOUT = 60_000
PHOTOS = (
    "obama_1.jpg",
    "obama_2.jpg",
    "biden_1.jpg",
    "biden_2.jpg",
    "obama_left_biden_right.jpg",
    "biden_left_obama_right.jpg",
)


@pytest.fixture()
def browser_page() -> Iterator[Any]:
    """A 1280x900 page in headless Chromium; fails the test on any script error."""
    with open_page(TIMEOUT) as page:
        yield page


def _cluster_of(base_url: str, photo: str) -> int:
    """The id of the person (cluster) holding the face found in portrait `photo`."""
    for cluster in get_json(base_url, "/v1/library/clusters"):
        faces = get_json(base_url, f"/v1/library/clusters/{cluster['id']}")["faces"]
        if any(f["source"] == photo for f in faces):
            return int(cluster["id"])
    raise AssertionError(f"no cluster holds {photo}")


def test_ui_photo_library(browser_page: Any, data: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve(tmp_path / "data") as base_url:
        page.goto(base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=TIMEOUT)
        tab = page.get_by_test_id("tab-library")
        tab.focus()
        page.keyboard.press("Enter")  # keyboard-reachable
        expect(page.get_by_test_id("view-library")).to_be_visible()
        expect(page.get_by_test_id("library-empty")).to_be_visible()
        expect(page.get_by_test_id("library-suggestions-empty")).to_be_visible()
        expect(page.get_by_test_id("library-hint")).to_be_visible()
        expect(page.get_by_test_id("library-detail")).to_be_hidden()

        # ---- upload six photos: two people, four faces each
        page.get_by_test_id("library-files").set_input_files([data / n for n in PHOTOS])
        status = page.get_by_test_id("library-status")
        expect(status).to_contain_text("Added 6 photos with 9 faces", timeout=TIMEOUT)
        expect(status).to_contain_text("2 new people found")
        cards = page.get_by_test_id("library-card")
        expect(cards).to_have_count(2)
        expect(page.get_by_test_id("library-count")).to_have_text("2")
        for i in range(2):
            expect(cards.nth(i).get_by_test_id("library-card-name")).to_have_text("Unnamed")
            expect(cards.nth(i).get_by_test_id("library-card-count")).to_contain_text("4 faces")
        expect(page.get_by_test_id("library-unclustered")).to_contain_text("1 face not grouped")
        expect(page.get_by_test_id("library-error")).to_be_hidden()
        _wait_for_thumbnails(page)

        obama = _cluster_of(base_url, "obama_1.jpg")
        biden = _cluster_of(base_url, "biden_1.jpg")
        obama_card = page.locator(f"[data-testid=library-card][data-cluster='{obama}']")
        biden_card = page.locator(f"[data-testid=library-card][data-cluster='{biden}']")

        # ---- open Obama's faces; rename with the keyboard (Enter in the name field)
        obama_card.click()
        detail = page.get_by_test_id("library-detail")
        expect(detail).to_be_visible()
        faces = page.get_by_test_id("library-face")
        expect(faces).to_have_count(4)
        expect(page.get_by_test_id("library-collection")).to_have_text("default")
        page.get_by_test_id("library-name").fill("Barack Obama")
        page.get_by_test_id("library-name").press("Enter")
        expect(obama_card.get_by_test_id("library-card-name")).to_have_text("Barack Obama")
        expect(page.get_by_test_id("library-detail-status")).to_have_text(
            "Renamed to Barack Obama."
        )
        expect(page.get_by_test_id("library-detail-title")).to_contain_text("Barack Obama")

        # ---- split two faces off: a new person, suggested as the same one; accept
        split = page.get_by_test_id("library-split")
        expect(split).to_be_disabled()
        page.get_by_test_id("library-face-select").nth(2).check()
        page.get_by_test_id("library-face-select").nth(3).check()
        expect(split).to_have_text("Split 2 faces into a new person")
        split.click()
        expect(page.get_by_test_id("library-detail-status")).to_contain_text(
            "Moved 2 faces to a new person"
        )
        expect(cards).to_have_count(3)
        expect(faces).to_have_count(2)
        suggestion = page.get_by_test_id("library-suggestion")
        expect(suggestion).to_have_count(1)
        expect(suggestion).to_contain_text("Barack Obama")
        expect(suggestion).to_contain_text("similarity")
        suggestion.get_by_test_id("library-accept").click()
        expect(suggestion).to_have_count(0)
        expect(cards).to_have_count(2)
        expect(obama_card.get_by_test_id("library-card-count")).to_contain_text("4 faces")
        expect(status).to_contain_text("Merged")

        # ---- open Biden's card with the keyboard, rename with the button
        biden_card.focus()
        page.keyboard.press("Enter")
        expect(biden_card).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("library-detail-title")).to_have_text("Unnamed · 4 faces")
        page.get_by_test_id("library-name").fill("Joe Biden")
        page.get_by_test_id("library-rename").click()
        expect(biden_card.get_by_test_id("library-card-name")).to_have_text("Joe Biden")
        # a name another person has: the server's 409 is shown
        page.get_by_test_id("library-name").fill("Barack Obama")
        page.get_by_test_id("library-rename").click()
        error = page.get_by_test_id("library-detail-error")
        expect(error).to_contain_text("already named")
        expect(error).to_contain_text("409")
        expect(biden_card.get_by_test_id("library-card-name")).to_have_text("Joe Biden")

        # ---- split one of Obama's faces off again: a suggestion to reject
        obama_card.click()
        expect(obama_card).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("library-detail-title")).to_contain_text("Barack Obama")
        expect(error).to_be_hidden()
        page.get_by_test_id("library-face-select").last.check()
        split.click()
        expect(cards).to_have_count(3)
        expect(suggestion).to_have_count(1)
        expect(faces).to_have_count(3)
        expect(page.get_by_test_id("library-detail-title")).to_have_text("Barack Obama · 3 faces")
        _wait_for_thumbnails(page)
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(_shot(page, "library.png"), DOCS_SCREENSHOT)
        suggestion.get_by_test_id("library-reject").click()
        expect(suggestion).to_have_count(0)
        expect(page.get_by_test_id("library-suggestions-empty")).to_be_visible()
        expect(cards).to_have_count(3)
        assert get_json(base_url, "/v1/library/suggestions") == []

        # ---- promote Obama (his three faces) into the collection chosen at the top
        expect(faces).to_have_count(3)
        page.get_by_test_id("library-promote").click()
        expect(page.get_by_test_id("library-detail-status")).to_have_text(
            "Enrolled 3 faces as Barack Obama in collection default."
        )
        expect(obama_card.get_by_test_id("library-card-promoted")).to_have_text("in gallery")
        _shot(page, "library_promoted.png")

    # outside the page: the subject exists in the gallery (checked over REST)
    with serve(tmp_path / "data") as base_url:
        name = urllib.parse.quote("Barack Obama")
        subject = get_json(base_url, f"/v1/collections/default/subjects/{name}")
        assert subject["name"] == "Barack Obama" and subject["templates"] == 3
        promoted = get_json(base_url, f"/v1/library/clusters/{obama}")
        assert promoted["promoted"] is True and promoted["subject"] == "Barack Obama"


def _wait_for_thumbnails(page: Any) -> None:
    """Every face thumbnail shown has arrived (a 112x112 JPEG decoded by the page)."""
    page.wait_for_function(
        """() => {
            const images = [...document.querySelectorAll("#view-library img[data-face]")]
                .filter((img) => img.offsetParent !== null);
            return images.length > 0
                && images.every((img) => img.complete && img.naturalWidth === 112);
        }""",
        timeout=TIMEOUT,
    )


def _shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_ui_photo_library_with_api_keys(browser_page: Any, data: Path, tmp_path: Path) -> None:
    """With keys: thumbnails are fetched with the key; a read-only key's upload is refused."""
    from playwright.sync_api import expect

    from facescope.service.state import ServiceState

    state = ServiceState(tmp_path / "data")
    reader, _ = state.create_key("viewer", "read")
    editor, _ = state.create_key("editor", "enrol")
    state.close()
    page = browser_page
    with serve(tmp_path / "data") as base_url:
        page.goto(base_url + "/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=TIMEOUT)

        page.get_by_test_id("api-key").fill(reader)
        page.get_by_test_id("api-key-apply").click()
        expect(page.get_by_test_id("auth-status")).to_have_text("key accepted")
        page.get_by_test_id("tab-library").click()
        expect(page.get_by_test_id("library-empty")).to_be_visible()
        page.get_by_test_id("library-files").set_input_files(data / "obama_1.jpg")
        error = page.get_by_test_id("library-error")
        expect(error).to_contain_text("may not change", timeout=TIMEOUT)
        expect(error).to_contain_text("403")

        page.get_by_test_id("api-key").fill(editor)
        page.get_by_test_id("api-key-apply").click()
        expect(page.get_by_test_id("auth-status")).to_have_text("key accepted")
        page.get_by_test_id("library-files").set_input_files([data / n for n in PHOTOS])
        expect(page.get_by_test_id("library-status")).to_contain_text(
            "Added 6 photos", timeout=TIMEOUT
        )
        expect(page.get_by_test_id("library-card")).to_have_count(2)
        expect(error).to_be_hidden()
        _wait_for_thumbnails(page)  # each fetched with the bearer key
