"""Loader for the CASIA NIR-VIS 2.0 evaluation protocol (for users who hold the dataset).

The dataset (not distributed with facescope; request it from CASIA) unpacks to::

    NIR-VIS-2.0/
      s1/ ... s4/            NIR/<subject>/*.bmp and VIS/<subject>/*.jpg
      protocols/
        vis_gallery_1.txt ... vis_gallery_10.txt     one VIS image per test subject
        nir_probe_1.txt   ... nir_probe_10.txt       the NIR probes of the same view
        vis_train_1.txt, nir_train_1.txt, ...        training lists of each view
        vis_gallery_dev.txt, nir_probe_dev.txt, vis_train_dev.txt, nir_train_dev.txt

Each protocol line is a path relative to ``NIR-VIS-2.0/`` with Windows separators, e.g.
``s2\\NIR\\10117\\016.bmp``. The standard test is: enrol the gallery, identify every
probe (rank-1) and verify all probe-gallery pairs (VR at FAR 0.1%), averaged over views
1..10.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from facescope.spectral.errors import CasiaLayoutError
from facescope.spectral.spectrum import Spectrum

VIEWS = tuple(range(1, 11))
View = int | Literal["dev"]


class CasiaImage(NamedTuple):
    """One listed image: its resolved path, subject id and capture spectrum."""

    path: Path
    subject: str
    spectrum: Spectrum


@dataclass(frozen=True)
class CasiaProtocol:
    """The gallery, probe and (when the files exist) training lists of one view."""

    view: View
    root: Path
    gallery: list[CasiaImage]
    probe: list[CasiaImage]
    train: list[CasiaImage] = field(default_factory=list)


class _Resolver:
    """Resolves relative paths under a root, component by component, ignoring case."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[Path, dict[str, str]] = {}

    def _entries(self, folder: Path) -> dict[str, str]:
        found = self._listings.get(folder)
        if found is None:
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            found = {name.lower(): name for name in sorted(names)}
            self._listings[folder] = found
        return found

    def resolve(self, parts: list[str]) -> Path | None:
        current = self.root
        for part in parts:
            exact = current / part
            if exact.exists():
                current = exact
                continue
            name = self._entries(current).get(part.lower())
            if name is None:
                return None
            current = current / name
        return current


def _dataset_root(root: str | os.PathLike[str]) -> Path:
    base = Path(root).expanduser()
    if not base.is_dir():
        raise CasiaLayoutError(
            f"CASIA NIR-VIS 2.0 root {base} does not exist or is not a folder; "
            "pass the NIR-VIS-2.0 folder (the one holding s1..s4 and protocols)"
        )
    for candidate in (base, *(base / n for n in os.listdir(base) if n.lower() == "nir-vis-2.0")):
        if any(p.name.lower() == "protocols" and p.is_dir() for p in candidate.iterdir()):
            return candidate
    raise CasiaLayoutError(f"{base} has no protocols/ folder: not a CASIA NIR-VIS 2.0 root")


def _protocol_file(resolver: _Resolver, name: str) -> Path | None:
    return resolver.resolve(["protocols", name])


def _read_list(resolver: _Resolver, file: Path, missing: str) -> list[CasiaImage]:
    try:
        text = file.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise CasiaLayoutError(f"cannot read protocol file {file}: {exc}") from None
    images: list[CasiaImage] = []
    absent: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        entry = line.split()[0]
        parts = [p for p in entry.replace("\\", "/").split("/") if p not in ("", ".")]
        kinds = [i for i, p in enumerate(parts[:-2]) if p.upper() in ("NIR", "VIS")]
        if not kinds:
            raise CasiaLayoutError(
                f"{file}, line {number}: {entry!r} is not a <s?>\\NIR|VIS\\<subject>\\<file> path"
            )
        k = kinds[-1]
        spectrum = Spectrum.NIR if parts[k].upper() == "NIR" else Spectrum.VIS
        subject = parts[k + 1]
        path = resolver.resolve(parts)
        if path is None or not path.is_file():
            if missing == "raise":
                absent.append(f"line {number}: {entry}")
                continue
            if missing == "skip":
                continue
            path = resolver.root.joinpath(*parts)
        images.append(CasiaImage(path, subject, spectrum))
    if absent:
        raise CasiaLayoutError(
            f"{file}: {len(absent)} listed image(s) not found under {resolver.root}, "
            f"first: {absent[0]} (pass missing='skip' to leave them out)"
        )
    if not images and missing != "skip":
        raise CasiaLayoutError(f"protocol file {file} lists no images")
    return images


def load_casia_nir_vis(
    root: str | os.PathLike[str],
    view: View = 1,
    *,
    missing: Literal["raise", "skip", "keep"] = "raise",
) -> CasiaProtocol:
    """The gallery (VIS) and probe (NIR) lists of one CASIA NIR-VIS 2.0 view.

    Args:
        root: the ``NIR-VIS-2.0`` folder (or the folder that contains it).
        view: 1..10 for the test views, or ``"dev"`` for the development lists.
        missing: what to do with listed images that are not on disk: ``"raise"``
            (default), ``"skip"`` them, or ``"keep"`` them with their unresolved path.

    Paths in the protocol files may use ``\\`` or ``/`` and differ in case from the
    files on disk. The training lists of the view are read too when present.
    Raises :class:`facescope.spectral.CasiaLayoutError` for a missing root, protocol
    file, unknown view or malformed line.
    """
    if missing not in ("raise", "skip", "keep"):
        raise CasiaLayoutError(f"missing must be 'raise', 'skip' or 'keep', got {missing!r}")
    if isinstance(view, bool) or not (view == "dev" or (isinstance(view, int) and view in VIEWS)):
        raise CasiaLayoutError(f"view must be one of 1..10 or 'dev', got {view!r}")
    base = _dataset_root(root)
    resolver = _Resolver(base)
    lists: dict[str, list[CasiaImage]] = {}
    for role, name in (("gallery", f"vis_gallery_{view}.txt"), ("probe", f"nir_probe_{view}.txt")):
        file = _protocol_file(resolver, name)
        if file is None:
            raise CasiaLayoutError(
                f"protocol file protocols/{name} for view {view!r} not found under {base}"
            )
        lists[role] = _read_list(resolver, file, missing)
    train: list[CasiaImage] = []
    for name in (f"vis_train_{view}.txt", f"nir_train_{view}.txt"):
        file = _protocol_file(resolver, name)
        if file is not None:
            train.extend(_read_list(resolver, file, missing))
    return CasiaProtocol(view, base, lists["gallery"], lists["probe"], train)
