"""Reports name the licence of an opt-in recogniser whenever its results are shown."""

from __future__ import annotations

from facescope.evaluate.report_builder import licence_notes


def test_only_opt_in_models_get_a_licence_note() -> None:
    assert licence_notes(["sface", "dlib", "fusion"]) == []
    (note,) = licence_notes(["sface", "arcface"])
    assert note.startswith("arcface: ")
    assert "non-commercial research only" in note
    assert "facescope models enable arcface-mbf --accept-licence" in note
