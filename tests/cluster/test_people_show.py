"""`facescope people show`: a cluster's faces with their files and boxes, for `people split`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from facescope.cli import app as cli


def _json(output: str) -> object:
    return json.loads(output[output.index(next(c for c in output if c in "[{")) :])


def test_people_show_lists_faces_with_files_and_boxes(tmp_path: Path, data: Path) -> None:
    runner = CliRunner()
    library = str(tmp_path / "lib")
    made = runner.invoke(cli, ["cluster", str(data), "-l", library, "--min-faces", "2", "--json"])
    assert made.exit_code == 0, made.output
    listed = runner.invoke(cli, ["people", "list", "-l", library])
    assert listed.exit_code == 0, listed.output
    assert "face ids" in listed.output and "facescope people show" in listed.output

    clusters = _json(runner.invoke(cli, ["people", "list", "-l", library, "--json"]).output)
    assert isinstance(clusters, list) and len(clusters) == 2

    def show(cluster_id: int) -> dict[str, Any]:
        shown = runner.invoke(cli, ["people", "show", str(cluster_id), "-l", library, "--json"])
        assert shown.exit_code == 0, shown.output
        document = _json(shown.output)
        assert isinstance(document, dict)
        return document

    obama = next(
        c
        for c in clusters
        if any(f["source"].endswith("obama_1.jpg") for f in show(c["id"])["faces"])
    )
    document = show(obama["id"])
    assert document["id"] == obama["id"] and document["size"] == 4
    faces = document["faces"]
    assert [f["id"] for f in faces] == document["face_ids"] == obama["face_ids"]
    files = sorted(Path(f["source"]).name for f in faces)
    assert files == [
        "biden_left_obama_right.jpg",
        "obama_1.jpg",
        "obama_2.jpg",
        "obama_left_biden_right.jpg",
    ]
    for face in faces:
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 < x2 and 0 <= y1 < y2
        assert Path(face["source"]).is_file()  # the real path, to open the photo
    # in the group photo with Obama on the left, his face is the left one
    left = next(f for f in faces if f["source"].endswith("obama_left_biden_right.jpg"))
    assert left["box"][0] < 300

    # the human view: one line per face with its id, file and box, and the split hint
    human = runner.invoke(cli, ["people", "show", str(obama["id"]), "-l", library])
    assert human.exit_code == 0, human.output
    assert "4 face(s)" in human.output
    for face in faces:
        assert str(face["id"]) in human.output
    assert f"facescope people split {obama['id']}" in human.output

    # what it shows is what split takes
    first = faces[0]["id"]
    split = runner.invoke(
        cli, ["people", "split", str(obama["id"]), str(first), "-l", library, "--json"]
    )
    assert split.exit_code == 0, split.output
    new_id = _json(split.output)["new_cluster"]  # type: ignore[index]
    moved = _json(
        runner.invoke(cli, ["people", "show", str(new_id), "-l", library, "--json"]).output
    )
    assert [f["id"] for f in moved["faces"]] == [first]  # type: ignore[index]


def test_people_show_unknown_cluster(tmp_path: Path) -> None:
    shown = CliRunner().invoke(cli, ["people", "show", "42", "-l", str(tmp_path / "lib")])
    assert shown.exit_code == 2
    assert "unknown cluster 42" in shown.output
