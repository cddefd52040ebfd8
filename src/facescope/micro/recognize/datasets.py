"""Loaders of the standard micro-expression datasets (users bring the data).

* **CASME II**: ``ROOT/sub01/EP02_01f/img46.jpg`` (the raw or the cropped release:
  ``reg_img46.jpg`` too) and the coding sheet ``CASME2-coding-*.xlsx`` with the columns
  *Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Estimated Emotion*.
* **SAMM**: ``ROOT/006/006_1_2/006_05562.jpg`` and ``SAMM_Micro_FACS_Codes_v2.xlsx``
  (title rows above the header are skipped; *Subject, Filename, Onset Frame, Apex Frame,
  Offset Frame, Estimated Emotion*).
* **SMIC**: ``ROOT/s1/micro/{positive,negative,surprise}/s1_po_01/*.bmp`` (the HS, VIS
  or NIR folder, or a folder holding them); every frame of a clip is used.

The sheets are read from CSV exports (any of ``,``/``;``/tab separated; no Excel
dependency), or from ``.xlsx`` when ``openpyxl`` is installed. Frame numbers are the
last number in each file name, which is how both sheets count frames.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from facescope.io.files import IMAGE_EXTENSIONS
from facescope.micro.recognize.errors import MicroRecognitionError
from facescope.micro.recognize.labels import check_format, class_names, map_emotion

#: Annotation file names searched for under the dataset folder, per layout.
ANNOTATION_PATTERNS: Final[dict[str, tuple[str, ...]]] = {
    "casme2": ("CASME2-coding*.csv", "CASME2-coding*.xlsx", "CASME2*coding*.csv"),
    "samm": ("SAMM_Micro_FACS_Codes*.csv", "SAMM_Micro_FACS_Codes*.xlsx", "SAMM*.csv"),
}
#: Normalised column names every annotation sheet needs.
REQUIRED_COLUMNS: Final[tuple[str, ...]] = (
    "subject",
    "filename",
    "onsetframe",
    "offsetframe",
    "estimatedemotion",
)
SMIC_EMOTIONS: Final[tuple[str, ...]] = ("negative", "positive", "surprise")
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class Clip:
    """One annotated micro-expression clip.

    Attributes:
        subject: the subject id (``sub01`` for CASME II, ``006`` for SAMM, ``s1`` for SMIC).
        name: the clip's folder name (the sheet's *Filename*).
        folder: the folder of its frames.
        frames: the frame files from onset to offset, in order.
        emotion: the emotion as annotated.
        label: its class under the chosen scheme.
        onset, apex, offset: frame numbers from the sheet (None where not given).
    """

    subject: str
    name: str
    folder: Path
    frames: tuple[Path, ...]
    emotion: str
    label: str
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "name": self.name,
            "folder": str(self.folder),
            "frames": len(self.frames),
            "emotion": self.emotion,
            "label": self.label,
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
        }


@dataclass(frozen=True)
class MicroDataset:
    """The clips of one dataset under one class scheme.

    Attributes:
        format: ``casme2``, ``samm`` or ``smic``.
        scheme: ``"3"`` or ``"5"``.
        classes: class names in label order.
        clips: the usable clips.
        left_out: clips whose emotion the scheme leaves out (e.g. "others" in 3 classes).
        skipped: (clip, reason) for annotated clips that could not be used.
        root: the dataset folder; annotations: the sheet read (None for SMIC).
    """

    format: str
    scheme: str
    classes: tuple[str, ...]
    clips: tuple[Clip, ...]
    root: Path
    annotations: Path | None = None
    left_out: int = 0
    skipped: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def subjects(self) -> tuple[str, ...]:
        """The subjects with at least one clip, sorted."""
        return tuple(sorted({c.subject for c in self.clips}))

    def counts(self) -> dict[str, int]:
        """Clips per class."""
        return {name: sum(c.label == name for c in self.clips) for name in self.classes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "scheme": self.scheme,
            "classes": list(self.classes),
            "root": str(self.root),
            "annotations": str(self.annotations) if self.annotations else None,
            "clips": len(self.clips),
            "subjects": len(self.subjects),
            "per_class": self.counts(),
            "left_out": self.left_out,
            "skipped": [{"clip": c, "reason": r} for c, r in self.skipped],
        }


# ---- annotation sheets --------------------------------------------------------------------


def normalise_column(name: object) -> str:
    """``"Onset Frame"`` -> ``"onsetframe"`` (lower case, letters and digits only)."""
    return re.sub(r"[^0-9a-z]", "", str(name or "").lower())


def read_sheet(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of an annotation sheet (CSV, or ``.xlsx`` with openpyxl) as dicts keyed by
    normalised column names; rows above the header row (SAMM's title rows) are skipped."""
    file = Path(path)
    if not file.is_file():
        raise MicroRecognitionError(f"no annotation file at {file}")
    if file.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(file)
    else:
        try:
            text = file.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as exc:
            raise MicroRecognitionError(f"cannot read {file}: {exc}") from exc
        try:
            dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = [list(r) for r in csv.reader(io.StringIO(text), dialect)]
    for k, row in enumerate(rows[:30]):
        names = [normalise_column(c) for c in row]
        if "subject" in names and "filename" in names:
            missing = [c for c in REQUIRED_COLUMNS if c not in names]
            if missing:
                raise MicroRecognitionError(
                    f"{file}: the header has no {', '.join(missing)} column "
                    f"(it needs {', '.join(REQUIRED_COLUMNS)}; spaces and case are ignored)"
                )
            return [
                {n: str(v).strip() for n, v in zip(names, r, strict=False) if n}
                for r in rows[k + 1 :]
                if any(str(v).strip() for v in r)
            ]
    raise MicroRecognitionError(
        f"{file}: no header row with Subject and Filename columns in its first 30 rows "
        f"(it needs {', '.join(REQUIRED_COLUMNS)})"
    )


def _xlsx_rows(file: Path) -> list[list[str]]:
    try:
        import openpyxl
    except ImportError as exc:
        raise MicroRecognitionError(
            f"{file} is an Excel sheet and openpyxl is not installed: export the sheet to "
            "CSV (File > Save as > CSV) and pass that, or pip install openpyxl"
        ) from exc
    try:
        book = openpyxl.load_workbook(file, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        rows = [["" if v is None else str(v) for v in r] for r in sheet.iter_rows(values_only=True)]
        book.close()
    except Exception as exc:  # openpyxl raises many types for a bad file
        raise MicroRecognitionError(f"cannot read the Excel sheet {file}: {exc}") from exc
    return rows


def find_annotations(root: Path, dataset: str) -> Path:
    """The annotation sheet of `dataset` under `root` (two levels deep at most)."""
    for pattern in ANNOTATION_PATTERNS.get(dataset, ()):
        for depth in ("", "*/", "*/*/"):
            found = sorted(root.glob(depth + pattern))
            if found:
                return found[0]
    wanted = " or ".join(ANNOTATION_PATTERNS.get(dataset, ()))
    raise MicroRecognitionError(
        f"no {dataset} annotation sheet ({wanted}) under {root}: pass it with --annotations"
    )


# ---- frames ----------------------------------------------------------------------------


def frame_number(path: Path) -> int | None:
    """The last number in a frame's file name (``img46.jpg`` -> 46), or None."""
    match = _NUMBER.search(path.stem)
    return int(match.group(1)) if match else None


def frame_files(folder: Path) -> list[Path]:
    """The image files of a clip folder, in frame order (by number, then name)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: (frame_number(p) is None, frame_number(p) or 0, p.name))


def _span(files: list[Path], onset: int | None, offset: int | None) -> list[Path]:
    if onset is None or onset <= 0:
        return files
    end = offset if offset is not None and offset >= onset else None
    return [
        f
        for f in files
        if (n := frame_number(f)) is not None and n >= onset and (end is None or n <= end)
    ]


def _integer(text: str | None) -> int | None:
    try:
        return int(float(str(text).strip()))
    except (TypeError, ValueError):
        return None


def _subject_key(text: str) -> str:
    """``sub01``, ``01``, ``1``, ``s1`` -> ``1``; other names lower-cased."""
    value = str(text).strip().lower()
    match = re.fullmatch(r"(?:sub|s)?0*(\d+)(?:\.0+)?", value)
    return match.group(1) if match else value


def _subject_id(dataset: str, text: str) -> str:
    key = _subject_key(text)
    if key.isdigit():
        return f"sub{int(key):02d}" if dataset == "casme2" else f"{int(key):03d}"
    return str(text).strip()


def _clip_folders(root: Path, depth: int = 3) -> dict[tuple[str, str], Path]:
    """(subject key, clip name lower-cased) -> clip folder, for folders up to `depth` deep."""
    index: dict[tuple[str, str], Path] = {}
    level = [root]
    for _ in range(depth):
        nxt: list[Path] = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                continue
            for child in children:
                index.setdefault((_subject_key(folder.name), child.name.lower()), child)
                nxt.append(child)
        level = nxt
    return index


# ---- the loaders -------------------------------------------------------------------------


def load_dataset(
    root: str | os.PathLike[str],
    dataset: str,
    *,
    scheme: str = "3",
    annotations: str | os.PathLike[str] | None = None,
) -> MicroDataset:
    """The clips of a CASME II, SAMM or SMIC folder under the 3- or 5-class `scheme`.

    Raises:
        MicroRecognitionError: no such folder, an unknown layout or scheme, no annotation
            sheet or one without the needed columns, or no usable clip at all.
    """
    folder = Path(root)
    layout = check_format(dataset)
    classes = class_names(layout, scheme)
    if not folder.is_dir():
        raise MicroRecognitionError(f"no dataset folder at {folder}")
    if layout == "smic":
        result = _load_smic(folder, scheme, classes)
    else:
        sheet = Path(annotations) if annotations is not None else find_annotations(folder, layout)
        result = _load_sheet(folder, layout, scheme, classes, sheet)
    if not result.clips:
        reasons = "; ".join(f"{c}: {r}" for c, r in result.skipped[:3])
        raise MicroRecognitionError(
            f"no usable {layout} clip under {folder} (is --format right?)"
            + (f"; e.g. {reasons}" if reasons else "")
        )
    return result


def _load_sheet(
    root: Path, dataset: str, scheme: str, classes: tuple[str, ...], sheet: Path
) -> MicroDataset:
    rows = read_sheet(sheet)
    folders = _clip_folders(root)
    clips: list[Clip] = []
    skipped: list[tuple[str, str]] = []
    left_out = 0
    for row in rows:
        name, subject = row.get("filename", ""), row.get("subject", "")
        if not name or not subject:
            continue
        emotion = row.get("estimatedemotion", "")
        label = map_emotion(dataset, emotion, scheme)
        if label is None:
            left_out += 1
            continue
        where = f"{subject}/{name}"
        folder = folders.get((_subject_key(subject), name.lower()))
        if folder is None:
            skipped.append((where, "no frame folder found"))
            continue
        onset, offset = _integer(row.get("onsetframe")), _integer(row.get("offsetframe"))
        files = _span(frame_files(folder), onset, offset)
        if len(files) < 2:
            skipped.append((where, f"fewer than 2 frames between {onset} and {offset}"))
            continue
        clips.append(
            Clip(
                subject=_subject_id(dataset, subject),
                name=name,
                folder=folder,
                frames=tuple(files),
                emotion=emotion,
                label=label,
                onset=onset,
                apex=_integer(row.get("apexframe")),
                offset=offset,
            )
        )
    return MicroDataset(dataset, scheme, classes, tuple(clips), root, sheet, left_out,
                        tuple(skipped))  # fmt: skip


def _smic_micro_folders(root: Path) -> Iterable[Path]:
    if root.name.lower() == "micro":
        yield root
    for pattern in ("micro", "*/micro", "*/*/micro"):
        yield from sorted(p for p in root.glob(pattern) if p.is_dir())


def _load_smic(root: Path, scheme: str, classes: tuple[str, ...]) -> MicroDataset:
    clips: list[Clip] = []
    skipped: list[tuple[str, str]] = []
    seen: set[Path] = set()
    for micro in _smic_micro_folders(root):
        subject = micro.parent.name
        for emotion_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
            emotion = emotion_dir.name.lower()
            label = map_emotion("smic", emotion, scheme)
            if emotion not in SMIC_EMOTIONS or label is None:
                continue
            for folder in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
                if folder in seen:
                    continue
                seen.add(folder)
                files = frame_files(folder)
                if len(files) < 2:
                    skipped.append((f"{subject}/{folder.name}", "fewer than 2 frames"))
                    continue
                clips.append(Clip(subject, folder.name, folder, tuple(files), emotion, label))
    return MicroDataset("smic", scheme, classes, tuple(clips), root, None, 0, tuple(skipped))


__all__ = [
    "ANNOTATION_PATTERNS",
    "REQUIRED_COLUMNS",
    "SMIC_EMOTIONS",
    "Clip",
    "MicroDataset",
    "find_annotations",
    "frame_files",
    "frame_number",
    "load_dataset",
    "normalise_column",
    "read_sheet",
]
