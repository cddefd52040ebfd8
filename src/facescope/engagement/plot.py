"""A timeline of one person's engagement: one PNG, one panel per group of cues (matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path

from facescope.engagement.result import PersonEngagement

#: Window label -> colour of its band on the engagement panel.
LABEL_COLOURS = {
    "engaged": "#2ecc71",
    "partly engaged": "#f1c40f",
    "disengaged": "#e74c3c",
    "absent": "#95a5a6",
    "unknown": "#bdc3c7",
}


def plot_timeline(person: PersonEngagement, path: str | Path, *, title: str | None = None) -> Path:
    """Save a PNG of one person's windows: engagement, attention, eyes, activity, affect."""
    from facescope.report.figures import pyplot

    plt = pyplot()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig, panels = plt.subplots(5, 1, figsize=(11, 11), sharex=True)
    windows = person.windows
    if not windows:
        panels[0].text(0.5, 0.5, "no windows", ha="center", transform=panels[0].transAxes)
    edges = [w.start for w in windows] + ([windows[-1].end] if windows else [])

    def steps(name: str) -> list[float]:
        values = [
            float(getattr(w, name)) if name in ("engagement", "presence") else w.features[name]
            for w in windows
        ]
        return [v if math.isfinite(v) else math.nan for v in values] + values[-1:]

    def line(panel: object, name: str, label: str, style: str = "-") -> None:
        if windows:
            panel.step(edges, steps(name), style, where="post", label=label)  # type: ignore[attr-defined]

    top = panels[0]
    for w in windows:
        top.axvspan(
            w.start, w.end, ymin=0, ymax=0.06, color=LABEL_COLOURS.get(w.label, "#34495e"), lw=0
        )
    line(top, "engagement", "engagement")
    line(top, "presence", "presence", "--")
    for label, colour in LABEL_COLOURS.items():
        if any(w.label == label for w in windows):
            top.plot([], [], color=colour, lw=6, label=label)
    top.set_ylim(-0.02, 1.05)
    top.set_ylabel("engagement\n(label band)")
    line(panels[1], "gaze_on_target", "gaze on target")
    line(panels[1], "facing", "head facing target", "--")
    line(panels[1], "head_stability", "head stability", ":")
    panels[1].set_ylim(-0.02, 1.05)
    panels[1].set_ylabel("attention")
    line(panels[2], "eye_openness", "eye openness (EAR)")
    line(panels[2], "eyes_closed", "eyes closed share", "--")
    panels[2].set_ylabel("eyes")
    blink_axis = panels[2].twinx()
    if windows:
        blink_axis.step(
            edges, steps("blink_rate"), ":", color="red", where="post", label="blinks / min"
        )
    blink_axis.set_ylabel("blinks / min", color="red")
    line(panels[3], "speaking", "speaking (mouth motion)")
    if windows:
        motion = [min(1.0, v / 20.0) for v in steps("motion_energy")]
        panels[3].step(edges, motion, "--", where="post", label="motion energy / 20 mm/s")
    panels[3].set_ylim(-0.02, 1.05)
    panels[3].set_ylabel("activity")
    line(panels[4], "valence", "valence")
    line(panels[4], "arousal", "arousal", "--")
    panels[4].set_ylim(-1.05, 1.05)
    panels[4].set_ylabel("valence / arousal\n(derived)")
    panels[4].set_xlabel("time (s)")
    for panel in panels:
        panel.grid(alpha=0.3)
        if panel.get_legend_handles_labels()[0]:
            panel.legend(loc="upper right", fontsize=7, ncol=3)
    fig.suptitle(title or f"engagement of person {person.track}")
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target


__all__ = ["LABEL_COLOURS", "plot_timeline"]
