"""A picture of spotting: each region's score over time per track, spotted intervals shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facescope.micro.result import SpotResult
from facescope.micro.spot import SpotOptions, region_scores


def plot_spotting(
    result: SpotResult,
    path: str | Path,
    options: SpotOptions | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Save a PNG: one panel per track, a line per region, the threshold, the intervals."""
    from facescope.report.figures import pyplot

    plt = pyplot()
    options = options or SpotOptions()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tracks = [t for t in result.tracks if t in result.motion] or list(result.motion)
    fig, panels = plt.subplots(max(len(tracks), 1), 1, figsize=(11, 3 + 2.5 * len(tracks)),
                               squeeze=False)  # fmt: skip
    fps = result.fps or 25.0
    if not tracks:
        panels[0][0].text(0.5, 0.5, "no tracked face", ha="center",
                          transform=panels[0][0].transAxes)  # fmt: skip
    for row, track in enumerate(tracks):
        axis = panels[row][0]
        motion = result.motion[track]
        frames = np.asarray(motion.frames)
        for region, score in region_scores(motion, fps, options).items():
            axis.plot(frames, score, label=region, linewidth=1)
        axis.axhline(options.threshold, color="black", linestyle="--", linewidth=0.8,
                     label="threshold")  # fmt: skip
        for interval in result.intervals:
            if interval.track == track:
                axis.axvspan(interval.onset - 0.5, interval.offset + 0.5, color="red", alpha=0.2)
        axis.set_ylabel(f"track {track}: score")
        axis.legend(loc="upper right", fontsize=8)
    panels[-1][0].set_xlabel("frame")
    fig.suptitle(title or (result.source or "micro-expression spotting"))
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target
