"""README and docs/: links that resolve, a short quick start, a site that builds.

Every relative Markdown link and image in README.md and docs/**/*.md must point to a file
that exists (and, for a page, to a heading that exists); links from docs/ must stay inside
docs/, because the static site (mkdocs.yml, `make docs`) carries only that folder. The
README's quick start (from the top to the capability table) stays at most 70 lines, and
docs/index.md repeats its commands. When mkdocs is installed (the `docs` extra), the site
is built with --strict, which fails on any broken link, anchor or page left out of the nav.
No network.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
#: The heading that ends the quick start.
CAPABILITIES = "## Capabilities at a glance"
MAX_QUICK_START_LINES = 70

#: [text](target) and ![alt](target "title"); the target has no spaces.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`[^`]*`")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, text) outside fenced code blocks, with inline code spans removed."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, CODE_SPAN.sub("", line)))
    return lines


def links(path: Path) -> list[tuple[int, str]]:
    return [(n, m.group(1)) for n, line in prose(path) for m in LINK.finditer(line)]


def slug(heading: str) -> str:
    """The anchor mkdocs (Python-Markdown's toc) gives a heading; GitHub agrees on ours."""
    text = re.sub(r"[*_`]|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    return {
        slug(line.lstrip("#").strip()) for _, line in prose(path) if re.match(r"^#{1,6} ", line)
    }


def test_every_relative_link_and_image_points_to_an_existing_file() -> None:
    broken: list[str] = []
    for page in pages():
        for number, target in links(page):
            if re.match(r"^(https?:|mailto:)", target) or target.startswith("#"):
                if target.startswith("#") and len(target) > 1 and target[1:] not in anchors(page):
                    broken.append(f"{page.relative_to(ROOT)}:{number}: no heading for {target}")
                continue
            path, _, fragment = target.partition("#")
            resolved = (page.parent / path).resolve()
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not resolved.exists():
                broken.append(f"{where}: no such file")
            elif page.is_relative_to(DOCS) and not resolved.is_relative_to(DOCS):
                broken.append(f"{where}: leaves docs/ (the site carries only docs/)")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                broken.append(f"{where}: no heading for #{fragment}")
    assert not broken, "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for _, target in links(README)
        if not re.match(r"^(https?:|mailto:|#)", target)
    }
    unlinked = [str(p.relative_to(ROOT)) for p in DOCS.rglob("*.md") if p.resolve() not in linked]
    assert not unlinked, f"docs pages missing from the README's Documentation list: {unlinked}"


def quick_start() -> list[str]:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert CAPABILITIES in lines, f"the README has no {CAPABILITIES!r} heading"
    return lines[: lines.index(CAPABILITIES)]


def test_the_readme_quick_start_is_short_and_has_the_two_commands() -> None:
    top = quick_start()
    assert len(top) <= MAX_QUICK_START_LINES, (
        f"{len(top)} lines before {CAPABILITIES!r}; at most {MAX_QUICK_START_LINES}: "
        "move the detail into docs/"
    )
    text = "\n".join(top)
    assert "## Quick start" in text
    for command in ("make run", "make test", "make demo", "facescope enroll", "facescope serve"):
        assert command in text, command


def fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)


def test_the_docs_landing_page_repeats_the_quick_start_and_the_capability_table() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for block in fenced_blocks("\n".join(quick_start()) + "\n"):
        assert block in index, f"docs/index.md lacks the README's quick-start block:\n{block}"
    table = [
        line.replace("](docs/", "](")
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ")
    ]
    missing = [line for line in table if line not in index.splitlines()]
    assert not missing, "docs/index.md lacks the README's table rows:\n" + "\n".join(missing)


def test_the_docs_site_builds_with_strict_checks(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (the `docs` extra)")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "ui.png").is_file()
