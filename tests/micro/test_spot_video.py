"""Spotting on a real talking head: an injected brow raise is found, speech is not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from conftest import TESTDATA

from facescope.micro import inject_micro, spot_frames

VIDEO = TESTDATA / "video" / "talking_head_1.mp4"
#: The first 3 s of the clip: talking with pauses.
FRAMES = 90

pytestmark = pytest.mark.skipif(not VIDEO.is_file(), reason=f"shared test data not at {VIDEO}")


@dataclass(frozen=True)
class _Frame:
    index: int
    time: float
    rgb: np.ndarray


@pytest.fixture(scope="module")
def clip() -> dict[str, Any]:
    """The clip's first frames, their unsmoothed meshes, and what is spotted on them."""
    from facescope.analysis.result import FrameAnalysis
    from facescope.micro import MicroSpotter
    from facescope.video import open_video

    with open_video(VIDEO, max_frames=FRAMES) as video:
        frames = [_Frame(f.index, f.time, f.rgb) for f in video]
        fps = float(video.fps or 30)
    meshes: list[Any] = []

    def keep(analysis: FrameAnalysis) -> None:
        meshes.append(analysis.faces[0].mesh if analysis.faces else None)

    result = MicroSpotter().spot(frames, fps, on_analysis=keep)
    return {"frames": frames, "meshes": meshes, "fps": fps, "result": result}


def test_the_unmodified_talking_head_gives_few_intervals(clip: dict[str, Any]) -> None:
    result = clip["result"]
    assert result.frames == FRAMES and len(result.tracks) == 1
    assert len(result.intervals) <= 1  # 3 s of speech: at most one false alarm


def test_an_injected_two_pixel_brow_raise_is_spotted(clip: dict[str, Any]) -> None:
    rgb = [f.rgb for f in clip["frames"]]
    moved, truth = inject_micro(rgb, clip["meshes"], "brows", 45, 6, 2.0)
    frames = [_Frame(f.index, f.time, m) for f, m in zip(clip["frames"], moved, strict=True)]
    result = spot_frames(frames, clip["fps"])  # the full path: meshes of the moved frames
    hits = [i for i in result.intervals if i.onset <= truth.offset and truth.onset <= i.offset]
    assert len(hits) == 1, result.intervals
    hit = hits[0]
    assert abs(hit.onset - truth.onset) <= 2 and abs(hit.offset - truth.offset) <= 2
    assert abs(hit.apex - truth.apex) <= 2
    assert {"left_brow", "right_brow"} & set(hit.regions)
    assert 0.5 < hit.intensity < 4.0
