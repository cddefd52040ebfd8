"""How much disk each part of facescope's install takes, measured in this environment.

For the core dependencies and each optional extra of ``pyproject.toml``, the closure of
required distributions (following their own requirements, markers evaluated here) is
taken from the installed metadata; an extra is charged only for what the core (and the
model carriers) do not already bring. Sizes are the installed files of each distribution
(its RECORD), so the figures hold for this platform and Python.

    python scripts/install_sizes.py [--json out/install_sizes.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_size(dist: metadata.Distribution) -> int:
    total = 0
    for file in dist.files or []:
        if file.size:
            total += int(file.size)
        else:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
    return total


def closure(requirements: list[str], extras: tuple[str, ...] = ()) -> set[str]:
    """Installed distributions needed by `requirements` (their extras followed too)."""
    seen: set[str] = set()
    visited: set[str] = set()
    todo: list[tuple[Requirement, tuple[str, ...]]] = [(Requirement(r), ()) for r in requirements]
    while todo:
        req, parent_extras = todo.pop()
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": e}) for e in (parent_extras or ("",))
        ):
            continue
        name = canonical(req.name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in visited:
            continue
        visited.add(key)
        seen.add(name)
        for sub in dist.requires or []:
            todo.append((Requirement(sub), tuple(sorted(req.extras))))
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    carriers = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements/models.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    sizes = {canonical(d.metadata["Name"]): dist_size(d) for d in metadata.distributions()}
    core = closure(project["dependencies"])
    carrier_set = {canonical(Requirement(c).name) for c in carriers}  # installed --no-deps
    rows = [("core (make run)", core), ("model carriers (make run)", carrier_set - core)]
    base = core | carrier_set
    for extra, requirements in project["optional-dependencies"].items():
        rows.append((f"extra: {extra}", closure(requirements) - base))
    result = []
    for label, names in rows:
        missing = sorted(n for n in names if n not in sizes)
        size = sum(sizes.get(n, 0) for n in names)
        biggest = sorted(names, key=lambda n: -sizes.get(n, 0))[:4]
        result.append({"part": label, "mb": round(size / 1e6), "distributions": len(names),
                       "largest": [f"{n} {sizes.get(n, 0) / 1e6:.0f} MB" for n in biggest],
                       "not_installed": missing})  # fmt: skip
    total = sum(sizes.values())
    print(f"{'part':32} {'MB':>6}  distributions  largest")
    for row in result:
        print(f"{row['part']:32} {row['mb']:>6}  {row['distributions']:>13}  "
              f"{', '.join(row['largest'])}")  # fmt: skip
    print(f"{'this environment, all':32} {total / 1e6:>6.0f}  (Python {sys.version.split()[0]})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"parts": result, "total_mb": round(total / 1e6)}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
