"""Crash safety: SIGKILL during bulk enrolment never loses acknowledged work.

A child process enrols people one by one into the embedded gallery and prints
an acknowledgement after each `enroll` returns. The parent kills it with
SIGKILL at random moments, several times, reopening the gallery after each
kill: every acknowledged enrolment must be there and searchable, nothing may
be duplicated, and SQLite's integrity check must pass.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.gallery import Gallery

pytestmark = pytest.mark.slow  # child processes killed mid-write

CHILD = r"""
import sys
import numpy as np
from facescope.gallery import Gallery

crop = np.load(sys.argv[2])
with Gallery.open(sys.argv[1]) as gallery:
    done = {s.name for s in gallery.list()}
    for i in range(10_000):
        name = f"person{i:05d}"
        if name in done:
            continue
        photo = crop.copy()
        photo[0, 0] = [i % 256, (i // 256) % 256, 7]  # a distinct photo per person
        gallery.enroll(name, [photo])
        print("ACK", name, flush=True)
"""


def test_sigkill_during_enrolment_loses_nothing_acknowledged(data: Path, tmp_path: Path) -> None:
    crop_file = tmp_path / "crop.npy"
    np.save(crop_file, fs.align(data / "obama_1.jpg")[0])
    gallery_dir = tmp_path / "gallery"
    rng = random.Random(1234)
    acknowledged: set[str] = set()
    for _round in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(gallery_dir), str(crop_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # wait until it is enrolling
        assert first.startswith("ACK"), first
        acknowledged.add(first.split()[1])
        time.sleep(rng.uniform(0.05, 0.8))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        acknowledged.update(line.split()[1] for line in rest.splitlines() if line.startswith("ACK"))
        with Gallery.open(gallery_dir) as gallery:
            assert gallery.integrity_check() == "ok"
            subjects = {s.name: s.n_templates for s in gallery.list()}
            assert acknowledged <= set(subjects), acknowledged - set(subjects)
            assert set(subjects.values()) == {1}, "a subject was duplicated or left empty"
            assert len(gallery) == len(subjects)
            last = max(acknowledged)
            assert gallery.verify(last, data / "obama_2.jpg").same_person
    assert len(acknowledged) >= 4, len(acknowledged)


def test_readers_work_while_another_process_writes(data: Path, tmp_path: Path) -> None:
    """WAL: a reader in this process keeps searching while a child process enrols."""
    crop_file = tmp_path / "crop.npy"
    np.save(crop_file, fs.align(data / "obama_1.jpg")[0])
    gallery_dir = tmp_path / "gallery"
    with Gallery.open(gallery_dir) as gallery:
        gallery.enroll("seed", [data / "biden_1.jpg"])
    writer = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(gallery_dir), str(crop_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().startswith("ACK")
    seen: list[int] = []
    try:
        with Gallery.open(gallery_dir) as reader:
            for _ in range(20):
                faces = reader.identify(data / "biden_2.jpg")
                assert faces[0].identity == "seed"
                seen.append(len(reader))
                time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=30)
    assert seen == sorted(seen) and seen[-1] > seen[0], seen  # it saw the writer's commits


def test_search_cache_follows_writes_from_another_process(data: Path, tmp_path: Path) -> None:
    gallery_dir = tmp_path / "gallery"
    with Gallery.open(gallery_dir) as reader:
        reader.enroll("biden", [data / "biden_1.jpg"])
        assert reader.identify(data / "obama_2.jpg")[0].identity is None  # cache built
        enrol_obama = (
            "import sys\n"
            "from facescope.gallery import Gallery\n"
            "with Gallery.open(sys.argv[1]) as g:\n"
            "    g.enroll('obama', [sys.argv[2]])\n"
        )
        subprocess.run(
            [sys.executable, "-c", enrol_obama, str(gallery_dir), str(data / "obama_1.jpg")],
            check=True,
        )
        assert reader.identify(data / "obama_2.jpg")[0].identity == "obama"
