"""Stacked fusion of the expression members (stack.py) and its use by the ensemble."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import TESTDATA

from facescope.analysis.expression.ensemble import ExpressionEnsemble
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.expression.stack import (
    AU_MEMBER,
    StackedFusion,
    feature_names,
    out_of_fold_gate,
    stack_features,
)


def _members(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Two members: "a" right on classes 0-3, "b" right on 4-6; the AU head on half the rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 7, n)
    out = {}
    for name, good in (("a", y < 4), ("b", y >= 4)):
        p = rng.dirichlet(np.ones(7), n)
        guess = np.where(good, y, rng.integers(0, 7, n))
        p[np.arange(n), guess] += 3.0
        out[name] = p / p.sum(axis=1, keepdims=True)
    au = rng.dirichlet(np.ones(7), n)
    au[np.arange(n), y] += 0.5
    au /= au.sum(axis=1, keepdims=True)
    au[n // 2 :] = np.nan
    out[AU_MEMBER] = au
    return out, y


def test_features_mark_where_the_au_head_is_missing() -> None:
    probs, _ = _members(10)
    x = stack_features(probs, ["a", "b", AU_MEMBER], 10)
    assert x.shape == (10, 22) and len(feature_names(["a", "b", AU_MEMBER])) == 22
    assert np.isfinite(x).all()
    assert list(x[:, -1]) == [1.0] * 5 + [0.0] * 5
    assert np.all(x[5:, 14:21] == 0.0)
    absent = stack_features({"a": probs["a"], "b": probs["b"]}, ["a", "b", AU_MEMBER], 10)
    assert np.all(absent[:, 14:] == 0.0)


def test_the_stacker_learns_which_member_to_trust_and_round_trips(tmp_path: Path) -> None:
    probs, y = _members(1400)
    members = ["a", "b", AU_MEMBER]
    train = np.arange(1400) < 1000
    stack = StackedFusion.fit({k: v[train] for k, v in probs.items()}, y[train], members)
    test = {k: v[~train] for k, v in probs.items()}
    out = stack.predict(test)
    assert out.shape == (400, 7) and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)
    stacked = np.mean(out.argmax(axis=1) == y[~train])
    single = max(np.mean(test[m].argmax(axis=1) == y[~train]) for m in ("a", "b"))
    assert stacked > single + 0.04, (stacked, single)
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(stack.to_json()))
    again = StackedFusion.load(path)
    assert again.members == tuple(members) and np.allclose(again.predict(test), out)
    with pytest.raises(ValueError, match="features"):
        StackedFusion.from_json({**stack.to_json(), "members": ["a", AU_MEMBER]})


def _two_domains(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Member "a" is right on posed rows, "b" on wild ones; "c" only tells the domains apart."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 7, n)
    posed = rng.random(n) < 0.4
    out = {}
    for name, good in (("a", posed), ("b", ~posed)):
        right = good & (rng.random(n) < 0.85) | ~good & (rng.random(n) < 0.25)
        guess = np.where(right, y, rng.integers(0, 7, n))
        p = rng.dirichlet(np.ones(7), n)
        p[np.arange(n), guess] += 2.0
        out[name] = p / p.sum(axis=1, keepdims=True)
    c = rng.dirichlet(np.ones(7), n)
    c[posed, 0] += 3.0
    out["c"] = c / c.sum(axis=1, keepdims=True)
    return out, y, posed


def test_a_gated_stacker_trusts_each_member_in_its_own_domain(tmp_path: Path) -> None:
    probs, y, posed = _two_domains(3000)
    members = ["a", "b", "c"]
    train = np.arange(3000) < 2000
    folds = np.arange(2000) % 5
    part = {k: v[train] for k, v in probs.items()}
    plain = StackedFusion.fit(part, y[train], members, l2=1.0)
    gated = StackedFusion.fit(part, y[train], members, l2=1.0, posed=posed[train], folds=folds)
    test = {k: v[~train] for k, v in probs.items()}
    right = {name: np.mean(m.predict(test).argmax(axis=1) == y[~train])
             for name, m in (("plain", plain), ("gated", gated))}  # fmt: skip
    assert right["gated"] > right["plain"] + 0.03, right
    share = gated.posed(test)
    assert share is not None and plain.posed(test) is None
    assert np.mean((share > 0.5) == posed[~train]) > 0.9
    # the gate and the head travel together; a gate that does not fit is refused
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(gated.to_json()))
    again = StackedFusion.load(path)
    assert again.gate is not None and np.allclose(again.predict(test), gated.predict(test))
    with pytest.raises(ValueError, match="gate"):
        StackedFusion.from_json({**gated.to_json(), "gate": plain.head.to_json()})
    with pytest.raises(ValueError, match="features"):
        StackedFusion.from_json({**gated.to_json(), "gate": None})
    with pytest.raises(ValueError, match="folds"):
        StackedFusion.fit(part, y[train], members, posed=posed[train])


def test_out_of_fold_gate_values_come_from_gates_that_never_saw_the_row() -> None:
    probs, _, posed = _two_domains(600, seed=3)
    x = stack_features(probs, ["a", "b", "c"], 600)
    folds = np.arange(600) % 4
    share = out_of_fold_gate(x, posed, folds)
    assert share.shape == (600,) and np.all((share >= 0) & (share <= 1))
    assert np.mean((share > 0.5) == posed) > 0.85
    # the row's value comes from a gate fitted without it; in a fold of its own, the gate
    # that scores it is fitted on every other row, so its value moves
    alone = folds.copy()
    alone[0] = 9
    moved = out_of_fold_gate(x, posed, alone)
    assert moved[0] != share[0]
    with pytest.raises(ValueError, match="both"):
        out_of_fold_gate(x, np.ones(600, bool), folds)


def test_the_ensemble_uses_its_stack_and_falls_back_without_a_member(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 60
    fake = {name: rng.dirichlet(np.ones(7), n) for name in ("fer", "facex")}
    fake[AU_MEMBER] = rng.dirichlet(np.ones(7), n)
    y = np.arange(n) % 7
    stack = StackedFusion.fit(fake, y, ["fer", "facex", AU_MEMBER], l2=10.0)
    (tmp_path / "stack.json").write_text(json.dumps(stack.to_json()))
    config = {"members": {"fer": 0.5, "facex": 0.5}, "rule": "mean", "margin": 0.1,
              "flip": False, "stack": "stack.json"}  # fmt: skip
    (tmp_path / "weights.json").write_text(json.dumps(config))
    ens = ExpressionEnsemble(weights_path=tmp_path / "weights.json").load()
    assert ens.stack_ is not None and set(ens.members_) == {"fer", "facex"}
    crops = [rng.integers(0, 255, (64, 64), dtype=np.uint8) for _ in range(3)]
    au = rng.dirichlet(np.ones(7), 3)
    probs = ens.predict_crops(crops, extra={AU_MEMBER: au})
    direct = stack.predict({**ens.member_proba(crops), AU_MEMBER: au})
    assert np.allclose(probs, direct, atol=1e-6)
    # a stack naming a member that cannot load: the weighted pool, and the reason
    needs_more = StackedFusion.fit(
        {**fake, "convcut": fake["fer"]}, y, ["fer", "convcut", AU_MEMBER], l2=10.0
    )
    (tmp_path / "stack.json").write_text(json.dumps(needs_more.to_json()))
    missing = tmp_path / "absent.npz"
    os.environ["FACESCOPE_CONVCUT"] = str(missing)
    try:
        pooled = ExpressionEnsemble(weights_path=tmp_path / "weights.json").load()
    finally:
        del os.environ["FACESCOPE_CONVCUT"]
    assert pooled.stack_ is None and "convcut" in pooled.skipped_["stack"]
    assert set(pooled.members_) == {"fer", "facex"}
    assert pooled.predict_crops(crops).shape == (3, len(EXPRESSIONS))
    # explicit weights never use the file's stack
    explicit = ExpressionEnsemble({"fer": 1.0}, weights_path=tmp_path / "weights.json")
    assert explicit.load().stack_ is None


FER = TESTDATA / "expression" / "fer2013_train.npz"


@pytest.mark.skipif(not FER.is_file(), reason="shared FER2013 data absent")
def test_the_shipped_fusion_reads_held_out_wild_faces() -> None:
    """200 held-out FER2013 validation photos through analyze: none lost, most right."""
    from facescope.analysis import AnalyzeOptions, analyze
    from facescope.analysis.expression.convcut_train import load_fer2013, stratified_split
    from facescope.analysis.expression.wild import fit_half

    ensemble = ExpressionEnsemble().load()
    if ensemble.stack_ is None:
        pytest.skip(f"stacked fusion unavailable here: {ensemble.skipped_}")
    images, labels = load_fer2013(FER)
    _, val = stratified_split(labels)
    held = val[~fit_half(labels[val])]
    pick = held[np.linspace(0, len(held) - 1, 200).round().astype(int)]
    right = 0
    for i in pick:
        faces = analyze(
            np.repeat(images[i][:, :, None], 3, axis=2), AnalyzeOptions(quality=False)
        ).faces
        assert faces and faces[0].expressions, "a 48x48 face photo gave no expression"
        best = max(faces[0].expressions, key=faces[0].expressions.__getitem__)
        right += best == EXPRESSIONS[labels[i]]
    assert right / len(pick) > 0.6, right / len(pick)
