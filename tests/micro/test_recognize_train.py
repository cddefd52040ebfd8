"""Micro-expression recognition: training on a small synthetic set (CASME II layout).

The synthetic clips (:mod:`facescope.micro.recognize.synth`) are cartoon faces whose
brows or mouth make a subtle class-dependent movement (negative: brows lower and draw
together; positive: mouth lifts and widens; surprise: brows rise, mouth opens), with
per-clip jitter and per-frame noise; the annotation sheet is a CSV export.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the optional torch extra")

from facescope.micro.recognize import (  # noqa: E402
    InputConfig,
    NetConfig,
    TrainConfig,
    TrainingSet,
    load_dataset,
    loso,
    prepare_training_set,
    train_network,
)
from facescope.micro.recognize.labels import COMPOSITE  # noqa: E402
from facescope.micro.recognize.synth import synthetic_clip, write_casme2  # noqa: E402

PIPELINE = InputConfig(size=32, frames=6, colour="grey", crop="none")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> TrainingSet:
    root = write_casme2(tmp_path_factory.mktemp("casme2"), subjects=4, per_class=3, size=48,
                        frames=10, seed=0)  # fmt: skip
    data = load_dataset(root, "casme2", scheme="3")
    assert len(data.clips) == 36 and data.left_out == 4  # the "others" rows
    return prepare_training_set(data, PIPELINE, flow="dis", landmarks=False)


def test_loss_falls_and_training_accuracy_rises(synthetic: TrainingSet) -> None:
    assert synthetic.clips.shape == (36, 6, 32, 32, 1)
    assert synthetic.flows is not None and synthetic.flows.shape == (36, 5, 2, 16, 16)
    assert float(np.abs(synthetic.flows).mean()) > 0.01  # the movement is in the targets
    config = TrainConfig(steps=60, batch=8, lr=3e-3, seed=0)
    model, _, report = train_network(synthetic, config, net=NetConfig(
        synthetic.classes, PIPELINE, width=16))  # fmt: skip
    loss = [h["loss"] for h in report.history]
    accuracy = [h["accuracy"] for h in report.history]
    first, last = np.mean(loss[:10]), np.mean(loss[-10:])
    assert last < 0.75 * first, (first, last)
    assert np.mean([h["flow"] for h in report.history[-10:]]) < np.mean(
        [h["flow"] for h in report.history[:10]])  # fmt: skip
    assert np.mean(accuracy[:10]) < 0.6  # near chance (1/3) at the start
    assert np.mean(accuracy[-10:]) > 0.75
    assert report.train_accuracy >= 0.85, report.train_accuracy
    assert not any(p.requires_grad for p in model.parameters())


def test_the_landmark_head_learns_with_targets() -> None:
    rng = np.random.default_rng(1)
    clips, points, labels = [], [], []
    for k in range(18):
        label = COMPOSITE[k % 3]
        clip = synthetic_clip(label, rng, size=48, frames=6)
        grey = [cv2.resize(f[..., 0], (32, 32), interpolation=cv2.INTER_AREA) for f in clip.frames]
        clips.append(np.stack(grey)[..., None])
        points.append(clip.landmarks / 48.0)
        labels.append(k % 3)
    known = np.stack(points).astype(np.float32)
    known[0, 2] = np.nan  # one frame without landmarks: left out of the loss
    data = TrainingSet(np.stack(clips), np.asarray(labels, np.int64),
                       tuple(f"s{k % 3}" for k in range(18)), tuple(map(str, range(18))),
                       COMPOSITE, PIPELINE, None, known)  # fmt: skip
    _, _, report = train_network(data, TrainConfig(steps=40, batch=6, lr=3e-3),
                                 net=NetConfig(COMPOSITE, PIPELINE, width=16))  # fmt: skip
    error = [h["landmarks"] for h in report.history]
    assert all(np.isfinite(error))
    assert np.mean(error[-5:]) < 0.6 * np.mean(error[:5]), (error[:5], error[-5:])
    assert all(h["flow"] == 0.0 for h in report.history)  # no flow targets: no flow loss


def test_leave_one_subject_out(synthetic: TrainingSet) -> None:
    few = synthetic.subset(np.isin(np.asarray(synthetic.subjects), ["sub01", "sub02", "sub03"]))
    report = loso(few, TrainConfig(steps=15, batch=8, lr=3e-3),
                  net=NetConfig(few.classes, PIPELINE, width=8))  # fmt: skip
    assert [f["subject"] for f in report.folds] == ["sub01", "sub02", "sub03"]
    assert sum(f["clips"] for f in report.folds) == len(few.clips) == 27
    assert min(report.predictions) >= 0
    s = report.scores
    assert 0.0 <= s.uf1 <= 1.0 and 0.0 <= s.uar <= 1.0
    assert sum(map(sum, s.confusion)) == 27
    assert s.accuracy == pytest.approx(
        np.mean(np.asarray(report.predictions) == few.labels))  # fmt: skip


def test_training_set_checks(synthetic: TrainingSet, tmp_path: Path) -> None:
    from facescope.micro.recognize import MicroRecognitionError

    with pytest.raises(MicroRecognitionError, match="labels must be"):
        TrainingSet(synthetic.clips[:2], np.array([0, 5]), ("a", "b"), ("x", "y"),
                    synthetic.classes, PIPELINE)  # fmt: skip
    with pytest.raises(MicroRecognitionError, match="expected"):
        TrainingSet(synthetic.clips[:2, :3], np.array([0, 1]), ("a", "b"), ("x", "y"),
                    synthetic.classes, PIPELINE)  # fmt: skip
    with pytest.raises(MicroRecognitionError, match="leave-one-subject-out needs"):
        loso(synthetic.subset(np.asarray(synthetic.subjects) == "sub01"))
