"""`facescope cluster` and `facescope people`: discover, name, promote, then identify."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from facescope.cli import app as cli


def test_cluster_rename_promote_identify(tmp_path: Path, data: Path) -> None:
    runner = CliRunner()
    library, gallery = str(tmp_path / "lib"), str(tmp_path / "gallery")
    made = runner.invoke(cli, ["cluster", str(data), "-l", library, "--min-faces", "2", "--json"])
    assert made.exit_code == 0, made.output
    clusters = json.loads(made.output[made.output.index("{") :])["clusters"]
    assert sorted(c["size"] for c in clusters) == [4, 4]
    again = runner.invoke(cli, ["cluster", str(data), "-l", library, "--min-faces", "2", "--json"])
    assert json.loads(again.output[again.output.index("{") :])["clusters"] == clusters  # stable
    listed = json.loads(runner.invoke(cli, ["people", "list", "-l", library, "--json"]).output)
    first = listed[0]["id"]
    assert (
        runner.invoke(cli, ["people", "rename", str(first), "Person A", "-l", library]).exit_code
        == 0
    )
    promoted = runner.invoke(cli, ["people", "promote", str(first), "-l", library, "-g", gallery])
    assert promoted.exit_code == 0 and "as 'Person A'" in promoted.output
    hits = 0
    for photo in ("obama_2.jpg", "biden_2.jpg"):
        found = runner.invoke(cli, ["identify", str(data / photo), "--gallery", gallery, "--json"])
        hits += sum(f["identity"] == "Person A" for f in json.loads(found.output)[0]["faces"])
    assert hits == 1  # exactly one of the two people is the promoted cluster
    missing = runner.invoke(cli, ["people", "merge", str(first), "999", "-l", library])
    assert missing.exit_code == 2 and "unknown cluster 999" in missing.output
