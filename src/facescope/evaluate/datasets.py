"""Labelled evaluation datasets, explicit pairs files and deterministic protocols.

A :class:`Dataset` is a list of image paths with one identity label each (and
optional extra label columns such as ``group``), loaded by :func:`load_dataset`
from a folder-per-identity tree, a folder holding ``labels.csv`` or a CSV file.
Verification pairs come from the dataset's own pairs file (LFW ``pairs.txt`` or
a pairs CSV) or from :func:`generate_pairs`; :func:`identification_split` gives
an open-set gallery/probe split. Everything random is seeded with
:func:`numpy.random.default_rng`, and nothing depends on set or hash ordering,
so a seed gives the same pairs and splits on every run and platform.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.errors import CalibrationError, FacescopeError
from facescope.match.calibrate import IMAGE_SUFFIXES, folder_per_identity

__all__ = [
    "LABELS_FILE",
    "Dataset",
    "DatasetError",
    "Pairs",
    "generate_pairs",
    "identification_split",
    "load_dataset",
]

#: Name of the label file that marks a folder as a CSV-labelled dataset.
LABELS_FILE = "labels.csv"

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})


class DatasetError(FacescopeError, ValueError):
    """A dataset, labels file or pairs file is missing, empty or malformed."""


@dataclass(frozen=True)
class Pairs:
    """Verification pairs: indices into ``Dataset.paths`` and whether each is genuine.

    Attributes:
        a, b: (n_pairs,) int64 image indices.
        same: (n_pairs,) bool; True for a genuine (mated) pair.
    """

    a: IntArray
    b: IntArray
    same: BoolArray

    def __post_init__(self) -> None:
        a = np.asarray(self.a, dtype=np.int64).reshape(-1)
        b = np.asarray(self.b, dtype=np.int64).reshape(-1)
        same = np.asarray(self.same, dtype=bool).reshape(-1)
        if not len(a) == len(b) == len(same):
            raise DatasetError(
                f"pairs arrays differ in length: a={len(a)}, b={len(b)}, same={len(same)}"
            )
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "same", same)

    def __len__(self) -> int:
        return len(self.a)

    @property
    def genuine(self) -> int:
        """Number of genuine (same-identity) pairs."""
        return int(self.same.sum())

    @property
    def impostor(self) -> int:
        """Number of impostor (different-identity) pairs."""
        return int(len(self.same) - self.same.sum())


@dataclass(frozen=True)
class Dataset:
    """Labelled images for evaluation.

    Attributes:
        name: a short label for reports (the folder or file name by default).
        root: the folder that relative paths (in pairs files) are taken from.
        paths: one path per image.
        identities: one identity label per image.
        groups: extra label columns per image (e.g. ``"group"``), each a list
            parallel to `paths`; empty when the labels have none.
        pairs: the explicit verification pairs the dataset came with, if any.
    """

    name: str
    root: Path
    paths: list[Path]
    identities: list[str]
    groups: dict[str, list[str]] = field(default_factory=dict)
    pairs: Pairs | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def subjects(self) -> list[str]:
        """The distinct identities, sorted."""
        return sorted(set(self.identities))


# --------------------------------------------------------------------------- loading


def load_dataset(
    source: str | os.PathLike[str],
    *,
    pairs: str | os.PathLike[str] | None = None,
    name: str | None = None,
) -> Dataset:
    """Load a labelled dataset, detecting its layout.

    Args:
        source: one of
            * a folder with ``labels.csv`` (columns ``path,identity`` plus any
              extra label columns; paths relative to that folder);
            * a folder with one sub-folder of images per identity;
            * a CSV file ``path,identity[,...]`` (paths relative to its folder).
        pairs: an explicit pairs file: LFW-style ``pairs.txt`` or a CSV with
            columns ``a,b[,same]`` (paths relative to the dataset root).
        name: the dataset's label in reports (default: the folder/file name).

    Raises:
        DatasetError: missing folder or file, empty dataset, fewer than two
            identities, missing columns, malformed lines, unknown pairs entries.
    """
    path = Path(source)
    if path.is_dir():
        labels = path / LABELS_FILE
        dataset = _from_csv(labels, path.name) if labels.is_file() else _from_folders(path)
    elif path.is_file():
        stem = path.parent.name if path.name == LABELS_FILE else path.stem
        dataset = _from_csv(path, stem)
    else:
        raise DatasetError(f"{path}: no such folder or file")
    if name is not None:
        dataset = Dataset(name, dataset.root, dataset.paths, dataset.identities, dataset.groups)
    if pairs is not None:
        found = load_pairs(dataset, pairs)
        dataset = Dataset(
            dataset.name, dataset.root, dataset.paths, dataset.identities, dataset.groups, found
        )
    return dataset


def _from_folders(root: Path) -> Dataset:
    try:
        data = folder_per_identity(root)
    except CalibrationError as exc:
        images = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise DatasetError(
                f"{root}: empty dataset (no {LABELS_FILE} and no images in identity sub-folders)"
            ) from exc
        raise DatasetError(str(exc)) from exc
    return Dataset(root.name, root, list(data.paths), list(data.identities))


def _from_csv(file: Path, name: str) -> Dataset:
    root = file.parent
    rows = list(_csv_rows(file, required=("path", "identity")))
    header, body = rows[0][1], rows[1:]
    extra = [column for column in header if column not in ("path", "identity")]
    paths: list[Path] = []
    identities: list[str] = []
    groups: dict[str, list[str]] = {column: [] for column in extra}
    seen: dict[str, int] = {}
    for line, row in body:
        relative, identity = row.get("path", ""), row.get("identity", "")
        if not relative or not identity:
            raise DatasetError(f"{file}, line {line}: empty path or identity in {row}")
        image = root / relative
        if not image.is_file():
            raise DatasetError(f"{file}, line {line}: image {image} not found")
        key = _key(image)
        if key in seen:
            raise DatasetError(
                f"{file}, line {line}: {relative} is listed twice (first at line {seen[key]})"
            )
        seen[key] = line
        paths.append(image)
        identities.append(identity)
        for column in extra:
            groups[column].append(row.get(column) or "")
    if not paths:
        raise DatasetError(f"{file}: empty dataset (no rows after the header)")
    n_ids = len(set(identities))
    if n_ids < 2:
        raise DatasetError(f"{file}: need at least 2 identities, found {n_ids}")
    return Dataset(name, root, paths, identities, groups)


def _csv_rows(file: Path, *, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) with stripped cells; the first item is the header."""
    try:
        handle = file.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read ({exc})") from exc
    with handle:
        reader = csv.reader(handle)
        header: list[str] | None = None
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if header is None:
                header = [cell.lower() for cell in cells]
                missing = [column for column in required if column not in header]
                if missing:
                    raise DatasetError(
                        f"{file}: missing column(s) {', '.join(missing)} in header "
                        f"{','.join(header)} (need {','.join(required)})"
                    )
                yield line, {column: column for column in header}
                continue
            if len(cells) != len(header):
                raise DatasetError(
                    f"{file}, line {line}: {len(cells)} fields, header has {len(header)}"
                )
            yield line, dict(zip(header, cells, strict=True))
    if header is None:
        raise DatasetError(f"{file}: empty file (no header)")


def _key(path: Path) -> str:
    return os.path.normcase(os.path.normpath(path.absolute()))


# --------------------------------------------------------------------------- pairs files


def load_pairs(dataset: Dataset, source: str | os.PathLike[str]) -> Pairs:
    """Read an explicit pairs file for `dataset` (LFW ``pairs.txt`` or a pairs CSV).

    Raises:
        DatasetError: the file is missing or malformed, or names an image or
            identity that is not in the dataset (the message gives the line).
    """
    file = Path(source)
    if not file.is_file():
        raise DatasetError(f"{file}: pairs file not found")
    if file.suffix.lower() == ".csv":
        return _pairs_csv(dataset, file)
    return _pairs_lfw(dataset, file)


def _pairs_csv(dataset: Dataset, file: Path) -> Pairs:
    index = {_key(p): i for i, p in enumerate(dataset.paths)}
    rows = list(_csv_rows(file, required=("a", "b")))
    has_same = "same" in rows[0][1]
    a: list[int] = []
    b: list[int] = []
    same: list[bool] = []
    for line, row in rows[1:]:
        ia = _lookup(index, dataset.root / row["a"], file, line)
        ib = _lookup(index, dataset.root / row["b"], file, line)
        if ia == ib:
            raise DatasetError(f"{file}, line {line}: pairs an image with itself ({row['a']})")
        labelled = dataset.identities[ia] == dataset.identities[ib]
        if has_same:
            flag = row["same"].lower()
            if flag not in _TRUE | _FALSE:
                raise DatasetError(
                    f"{file}, line {line}: same={row['same']!r} is not 1/0/true/false"
                )
            declared = flag in _TRUE
            if declared != labelled:
                raise DatasetError(
                    f"{file}, line {line}: same={row['same']} but the identities are "
                    f"{dataset.identities[ia]!r} and {dataset.identities[ib]!r}"
                )
        a.append(ia)
        b.append(ib)
        same.append(labelled)
    if not a:
        raise DatasetError(f"{file}: no pairs after the header")
    return Pairs(np.array(a, np.int64), np.array(b, np.int64), np.array(same, bool))


def _pairs_lfw(dataset: Dataset, file: Path) -> Pairs:
    """LFW ``pairs.txt``: header ``folds n`` or ``n``; ``name i j`` / ``name1 i name2 j``."""
    index = {_key(p): i for i, p in enumerate(dataset.paths)}
    subjects = set(dataset.identities)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{file}: cannot read pairs file ({exc})") from exc
    lines = [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise DatasetError(f"{file}: empty pairs file")
    header_line, header = lines[0]
    if not 1 <= len(header) <= 2 or not all(cell.isdigit() for cell in header):
        raise DatasetError(
            f"{file}, line {header_line}: expected a header 'N_folds N' or 'N', "
            f"got {' '.join(header)!r}"
        )
    folds, per_fold = (1, int(header[0])) if len(header) == 1 else map(int, header)
    body = lines[1:]
    if len(body) != 2 * folds * per_fold:
        raise DatasetError(
            f"{file}: header promises {folds} fold(s) of {per_fold} matched + {per_fold} "
            f"mismatched pairs ({2 * folds * per_fold} lines), found {len(body)} pair lines"
        )
    a: list[int] = []
    b: list[int] = []
    same: list[bool] = []
    for line, cells in body:
        if len(cells) == 3 and cells[1].isdigit() and cells[2].isdigit():
            sides = [(cells[0], cells[1]), (cells[0], cells[2])]
        elif len(cells) == 4 and cells[1].isdigit() and cells[3].isdigit():
            sides = [(cells[0], cells[1]), (cells[2], cells[3])]
        else:
            raise DatasetError(
                f"{file}, line {line}: expected 'name i j' or 'name1 i name2 j', "
                f"got {' '.join(cells)!r}"
            )
        found: list[int] = []
        for person, number in sides:
            if person not in subjects:
                raise DatasetError(f"{file}, line {line}: unknown identity {person!r}")
            image = dataset.root / person / f"{person}_{int(number):04d}.jpg"
            i = _lookup(index, image, file, line)
            if dataset.identities[i] != person:
                raise DatasetError(
                    f"{file}, line {line}: {image} is labelled {dataset.identities[i]!r}, "
                    f"not {person!r}"
                )
            found.append(i)
        if found[0] == found[1]:
            raise DatasetError(f"{file}, line {line}: pairs an image with itself")
        a.append(found[0])
        b.append(found[1])
        same.append(len(cells) == 3)
    return Pairs(np.array(a, np.int64), np.array(b, np.int64), np.array(same, bool))


def _lookup(index: dict[str, int], image: Path, file: Path, line: int) -> int:
    try:
        return index[_key(image)]
    except KeyError:
        raise DatasetError(f"{file}, line {line}: image {image} is not in the dataset") from None


# --------------------------------------------------------------------------- protocols


def generate_pairs(
    dataset: Dataset,
    *,
    max_genuine: int | None = None,
    impostor_per_genuine: float | None = None,
    max_impostor: int | None = None,
    seed: int = 0,
) -> Pairs:
    """Verification pairs from the identity labels, each unordered pair once (a < b).

    By default every genuine and every impostor pair. `max_genuine` caps the
    genuine pairs; `impostor_per_genuine` (a ratio to the genuine pairs kept)
    and `max_impostor` cap the impostors (the smaller cap wins). Capped sets
    are drawn uniformly without replacement with ``numpy.random.default_rng``
    (independent streams for genuine and impostor pairs, so capping one leaves
    the other's draw unchanged); impostor pairs are never all materialised, so
    sampling works on large datasets. Output: genuine pairs then impostor
    pairs, each sorted by (a, b).
    """
    for label, value in (
        ("max_genuine", max_genuine),
        ("max_impostor", max_impostor),
        ("impostor_per_genuine", impostor_per_genuine),
    ):
        if value is not None and value < 0:
            raise DatasetError(f"{label} must be >= 0, got {value}")
    labels = _codes(dataset.identities)
    gen_a, gen_b = _genuine_pairs(labels)
    if max_genuine is not None and max_genuine < len(gen_a):
        rng = np.random.default_rng([seed, 0])
        keep = np.sort(rng.choice(len(gen_a), size=max_genuine, replace=False))
        gen_a, gen_b = gen_a[keep], gen_b[keep]
    n = len(labels)
    total_impostor = n * (n - 1) // 2 - _n_genuine(labels)
    wanted = total_impostor
    if impostor_per_genuine is not None:
        wanted = min(wanted, round(impostor_per_genuine * len(gen_a)))
    if max_impostor is not None:
        wanted = min(wanted, max_impostor)
    if wanted >= total_impostor:
        imp_a, imp_b = _all_impostor_pairs(labels)
    else:
        rng = np.random.default_rng([seed, 1])
        ranks = np.sort(rng.choice(total_impostor, size=wanted, replace=False))
        imp_a, imp_b = _impostors_by_rank(labels, ranks)
    return Pairs(
        np.concatenate([gen_a, imp_a]),
        np.concatenate([gen_b, imp_b]),
        np.concatenate([np.ones(len(gen_a), bool), np.zeros(len(imp_a), bool)]),
    )


def _codes(identities: list[str]) -> IntArray:
    """Identity labels as int codes (sorted-label order, no hashing)."""
    _, codes = np.unique(np.asarray(identities, dtype=str), return_inverse=True)
    return np.asarray(codes, dtype=np.int64).reshape(-1)


def _n_genuine(labels: IntArray) -> int:
    counts = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _genuine_pairs(labels: IntArray) -> tuple[IntArray, IntArray]:
    a_parts: list[IntArray] = []
    b_parts: list[IntArray] = []
    for code in range(int(labels.max()) + 1 if len(labels) else 0):
        members = np.flatnonzero(labels == code).astype(np.int64)
        upper = np.triu_indices(len(members), k=1)
        a_parts.append(members[upper[0]])
        b_parts.append(members[upper[1]])
    if not a_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    order = np.lexsort((b, a))
    return a[order], b[order]


def _all_impostor_pairs(labels: IntArray) -> tuple[IntArray, IntArray]:
    a_parts: list[IntArray] = []
    b_parts: list[IntArray] = []
    for i in range(len(labels) - 1):
        partners = i + 1 + np.flatnonzero(labels[i + 1 :] != labels[i])
        a_parts.append(np.full(len(partners), i, np.int64))
        b_parts.append(partners.astype(np.int64))
    if not a_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a_parts), np.concatenate(b_parts)


def _impostors_by_rank(labels: IntArray, ranks: IntArray) -> tuple[IntArray, IntArray]:
    """The impostor pairs at sorted `ranks` in (a, b) order, without listing them all."""
    n = len(labels)
    counts = np.bincount(labels)
    # same-identity images after i: (images of i's identity at index >= i) - 1
    position = np.zeros(n, np.int64)
    seen = np.zeros(len(counts), np.int64)
    for i, code in enumerate(labels):
        position[i] = seen[code]
        seen[code] += 1
    later_same = counts[labels] - position - 1
    per_row = (n - 1 - np.arange(n)) - later_same
    ends = np.cumsum(per_row)
    rows = np.searchsorted(ends, ranks, side="right")
    starts = ends - per_row
    a = rows.astype(np.int64)
    b = np.empty(len(ranks), np.int64)
    for row in np.unique(rows):
        mask = rows == row
        partners = row + 1 + np.flatnonzero(labels[row + 1 :] != labels[row])
        b[mask] = partners[ranks[mask] - starts[row]]
    return a, b


def identification_split(
    dataset: Dataset,
    *,
    gallery_per_subject: int = 1,
    nonmated_fraction: float = 0.5,
    seed: int = 0,
) -> tuple[IntArray, IntArray]:
    """An open-set gallery/probe split: (gallery indices, probe indices), each sorted.

    A seeded `nonmated_fraction` of the subjects (rounded down, but at least
    one when the fraction is positive, and at least one subject always stays
    enrolled) is never enrolled: all their images are non-mated probes. Each
    other subject enrols its first `gallery_per_subject` images in a seeded
    shuffle; its remaining images are mated probes.
    """
    if gallery_per_subject < 1:
        raise DatasetError(f"gallery_per_subject must be >= 1, got {gallery_per_subject}")
    if not 0.0 <= nonmated_fraction < 1.0:
        raise DatasetError(f"nonmated_fraction must be in [0, 1), got {nonmated_fraction}")
    subjects = dataset.subjects
    if len(subjects) < 2 and nonmated_fraction > 0:
        raise DatasetError(f"{dataset.name}: need at least 2 subjects for an open-set split")
    labels = np.asarray(dataset.identities, dtype=str)
    rng = np.random.default_rng(seed)
    n_nonmated = int(np.floor(nonmated_fraction * len(subjects)))
    if nonmated_fraction > 0:
        n_nonmated = max(n_nonmated, 1)
    n_nonmated = min(n_nonmated, len(subjects) - 1)
    shuffled = rng.permutation(len(subjects))
    nonmated = np.zeros(len(subjects), bool)
    nonmated[shuffled[:n_nonmated]] = True
    gallery: list[IntArray] = []
    probes: list[IntArray] = []
    for k, subject in enumerate(subjects):
        members = np.flatnonzero(labels == subject).astype(np.int64)
        if nonmated[k]:
            probes.append(members)
            continue
        order = rng.permutation(members)
        gallery.append(order[:gallery_per_subject])
        probes.append(order[gallery_per_subject:])
    empty = np.zeros(0, np.int64)
    return (
        np.sort(np.concatenate(gallery)) if gallery else empty,
        np.sort(np.concatenate(probes)) if probes else empty,
    )
