"""Lip reading: the training loop overfits a small synthetic set; held-out evaluation.

The synthetic words (:mod:`facescope.lips.read.synth`) are mouth-like ellipse sequences
whose opening (and widening) over time encodes the word, with matching 20-point lip
landmarks, per-speaker looks, per-sample speed and amplitude, and per-frame noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the optional torch extra")

from facescope.lips.read import (  # noqa: E402
    LipReader,
    LipReadingError,
    NetConfig,
    TrainConfig,
    TrainingSet,
    accuracy,
    load_dataset,
    prepare_training_set,
    read_meta,
    train_from_folder,
    train_network,
)
from facescope.lips.read.network import template_of  # noqa: E402
from facescope.lips.read.synth import write_grid, write_npz_dataset  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> TrainingSet:
    root = write_npz_dataset(tmp_path_factory.mktemp("npz"), speakers=3, per_speaker=3)
    data = load_dataset(root, "npz")
    return prepare_training_set(data.samples, data.vocabulary, frames=16, size=48)


def test_loss_falls_and_training_accuracy_rises(synthetic: TrainingSet) -> None:
    assert synthetic.crops.shape == (36, 16, 48, 48) and synthetic.lips.shape == (36, 16, 20, 2)
    arch = NetConfig(synthetic.vocabulary, template_of(synthetic.lips), frames=16, size=48,
                     width=8, hidden=32)  # fmt: skip
    config = TrainConfig(steps=60, batch=8, lr=3e-3, augment=False, label_smoothing=0.0)
    model, _, report = train_network(synthetic, config, net=arch)
    loss = [h["loss"] for h in report.history]
    words = [h["words"] for h in report.history]
    graph = [h["graph"] for h in report.history]
    batch_accuracy = [h["accuracy"] for h in report.history]
    assert np.mean(loss[-10:]) < 0.5 * np.mean(loss[:10]), (loss[:10], loss[-10:])
    assert np.mean(words[-10:]) < 0.5 * np.mean(words[:10])
    assert np.mean(graph[-10:]) < np.mean(graph[:10])  # the landmark stream learns too
    assert np.mean(batch_accuracy[:5]) < 0.5  # near chance (1/4) at the start
    assert np.mean(batch_accuracy[-10:]) > 0.85
    assert report.train_accuracy >= 0.9, report.train_accuracy
    assert not any(p.requires_grad for p in model.parameters())
    scored = accuracy(model, synthetic)
    assert scored.top1 == pytest.approx(report.train_accuracy)
    assert scored.top5 == 1.0 and set(scored.per_speaker) == {"spk0", "spk1", "spk2"}


def test_augmented_training_runs_and_checks(synthetic: TrainingSet) -> None:
    config = TrainConfig(steps=3, batch=4, augment=True)
    _, arch, report = train_network(synthetic, config, net=NetConfig(
        synthetic.vocabulary, template_of(synthetic.lips), frames=16, size=48, width=4,
        hidden=16, backend="tcn"))  # fmt: skip
    assert len(report.history) == 3 and all(np.isfinite(h["loss"]) for h in report.history)
    assert arch.backend == "tcn"
    with pytest.raises(LipReadingError, match="the data has 16, 48 and 20"):
        train_network(synthetic, config, net=NetConfig(synthetic.vocabulary,
                      template_of(synthetic.lips), frames=8, size=48))  # fmt: skip
    with pytest.raises(LipReadingError, match="labels must be"):
        TrainingSet(synthetic.crops[:2], synthetic.lips[:2], np.array([0, 9]),
                    synthetic.vocabulary, ("a", "b"), ("", ""))  # fmt: skip
    with pytest.raises(LipReadingError, match="steps and batch"):
        TrainConfig(steps=0)


def test_grid_training_scores_unseen_speakers(tmp_path: Path) -> None:
    root = write_grid(tmp_path / "grid", speakers=3, sentences=2)
    out = tmp_path / "w.npz"
    stages: list[str] = []
    run = train_from_folder(
        root, "grid", out, frames=10, size=48, width=4, hidden=16,
        config=TrainConfig(steps=4, batch=8), command="test",
        progress=lambda stage, done, total: stages.append(stage),
    )  # fmt: skip
    assert run.weights == out and out.is_file() and set(stages) == {"prepare", "train"}
    assert run.split.how == "speaker-independent: held out s1, s2"
    assert run.test is not None and run.test.samples == 16 and run.report.samples == 8
    assert set(run.test.per_speaker) == {"s1", "s2"}
    meta = read_meta(out)
    assert meta["training"]["split"]["test"] == 16 and meta["training"]["command"] == "test"
    assert meta["architecture"]["frames"] == 10 and len(meta["training"]["history"]) == 4
    done = run.to_dict()
    assert done["test"]["top1"] == run.test.top1 and "history" not in done["training"]
    reader = LipReader.load(out)
    guess = reader.predict(root / "s1" / "b10a0n.npz", top=3, start=0, end=12)
    assert guess.word in reader.vocabulary and len(guess.top) == 3 and guess.frames == 13
    assert guess.top[0][1] >= guess.top[1][1] >= guess.top[2][1]
