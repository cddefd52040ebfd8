"""Templates record the spectrum of their capture (vis, nir, thermal), on both backends.

Enrolment stores a given or guessed spectrum, export/import carries it, old galleries
upgrade in place (every old template is 'vis'), and with per-spectrum-pair thresholds
set, a NIR probe is judged against a VIS template by the vis-nir threshold.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from facescope.errors import GalleryError, GalleryModelMismatchError
from facescope.gallery import Gallery
from facescope.gallery.gallery import _model_version
from facescope.gallery.sqlite_store import _MIGRATIONS, SCHEMA_VERSION
from facescope.gallery.store import TemplateRecord
from facescope.gallery.templates import photo_template
from facescope.io.image import load_image
from facescope.match.metrics import OperatingPoint
from facescope.pipeline import embed_faces, find_faces
from facescope.spectral import (
    SpectralThresholds,
    Spectrum,
    UncalibratedPairError,
    UnknownSpectrumError,
    guess_spectrum,
)

#: The templates table of schema v1, as galleries created before spectra have it.
V1_DDL = _MIGRATIONS[1]  # the version-1 schema, as galleries made before spectra have it


def grey(path: Path) -> npt.NDArray[np.uint8]:
    """A greyscale (three equal channels) copy of a colour photo: what a NIR camera gives."""
    rgb = load_image(path)
    mean = rgb.astype(np.float64).mean(axis=2, keepdims=True)
    return np.repeat(np.round(mean).astype(np.uint8), 3, axis=2)


def thresholds(pairs: dict[tuple[str, str], float], fmr: float = 1e-3) -> SpectralThresholds:
    """SpectralThresholds with the given cosine threshold per pair."""
    points = {
        pair: OperatingPoint(t, fmr, fmr, 0.01, 0.01, 100, 10_000) for pair, t in pairs.items()
    }
    return SpectralThresholds(points, fmr=fmr, model="sface")


def spectra(gallery: Gallery, subject: str) -> list[str]:
    return [record.spectrum for _, record in gallery.templates(subject)]


def test_the_grey_copy_of_a_colour_photo_is_guessed_nir(data: Path) -> None:
    assert guess_spectrum(load_image(data / "obama_1.jpg")) == Spectrum.VIS
    assert guess_spectrum(grey(data / "obama_1.jpg")) == Spectrum.NIR


def test_enrolment_stores_the_given_or_guessed_spectrum(uri: str, data: Path) -> None:
    with Gallery.open(uri) as g:
        g.enroll("obama", [data / "obama_1.jpg", grey(data / "obama_2.jpg")])  # guessed
        g.enroll("biden", [data / "biden_1.jpg"], spectrum="NIR")  # given (any case)
        g.enroll("biden", [data / "biden_2.jpg"], spectrum=Spectrum.THERMAL)
        assert spectra(g, "obama") == ["vis", "nir"]
    with Gallery.open(uri) as g:  # stored, not just returned
        assert spectra(g, "obama") == ["vis", "nir"]
        assert spectra(g, "biden") == ["nir", "thermal"]
        assert g.integrity_check() == "ok"


def test_an_unknown_spectrum_name_is_refused_before_anything_is_stored(
    uri: str, data: Path
) -> None:
    with Gallery.open(uri) as g:
        with pytest.raises(UnknownSpectrumError, match=r"unknown spectrum 'uv'.*'vis', 'nir'"):
            g.enroll("obama", [data / "obama_1.jpg"], spectrum="uv")
        assert not g.has_subject("obama") and len(g) == 0
        with pytest.raises(ValueError, match="unknown spectrum"):  # also a ValueError
            photo_template(data / "obama_1.jpg", "sface", spectrum="x-ray")
        g.enroll("obama", [data / "obama_1.jpg"])
        with pytest.raises(UnknownSpectrumError, match="unknown spectrum 'uv'"):
            g.identify(data / "obama_2.jpg", probe_spectrum="uv")
        with pytest.raises(UnknownSpectrumError, match="unknown spectrum 'uv'"):
            g.verify("obama", data / "obama_2.jpg", probe_spectrum="uv")


def test_export_and_import_carry_the_spectrum(uri: str, data: Path, tmp_path: Path) -> None:
    exported = tmp_path / "export.json"
    with Gallery.open(uri) as g:
        g.enroll("obama", [data / "obama_1.jpg", grey(data / "obama_2.jpg")])
        g.enroll("biden", [data / "biden_1.jpg"], spectrum="thermal")
        assert g.export(exported) == 3
    document = json.loads(exported.read_text())
    written = {s["name"]: [t["spectrum"] for t in s["templates"]] for s in document["subjects"]}
    assert written == {"obama": ["vis", "nir"], "biden": ["thermal"]}
    with Gallery.open(tmp_path / "copy") as copy:
        assert copy.import_file(exported) == 3
        assert spectra(copy, "obama") == ["vis", "nir"]
        assert spectra(copy, "biden") == ["thermal"]


def test_import_of_an_export_without_spectra_makes_vis_templates(
    data: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "export.json"
    with Gallery.open(tmp_path / "a") as g:
        g.enroll("obama", [grey(data / "obama_1.jpg")], spectrum="nir")
        g.export(exported)
    document = json.loads(exported.read_text())
    for subject in document["subjects"]:  # as written before spectra were recorded
        for template in subject["templates"]:
            del template["spectrum"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    with Gallery.open(tmp_path / "b") as g:
        assert g.import_file(old) == 1
        assert spectra(g, "obama") == ["vis"]
    document["subjects"][0]["templates"][0]["spectrum"] = "uv"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    with Gallery.open(tmp_path / "c") as g:
        with pytest.raises(GalleryError, match="unknown spectrum 'uv'"):
            g.import_file(bad)
        assert len(g) == 0


def test_a_v1_sqlite_gallery_is_migrated_in_place_without_data_loss(
    data: Path, tmp_path: Path
) -> None:
    record = photo_template(data / "obama_1.jpg", "sface")
    folder = tmp_path / "g"
    folder.mkdir()
    db = sqlite3.connect(folder / "gallery.sqlite3")
    db.executescript(V1_DDL)
    db.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?)",
        [("model", "sface"), ("model_version", _model_version("sface"))],
    )
    db.execute(
        "INSERT INTO subjects(id, name, metadata, created_at) VALUES (1, 'obama', ?, 1.0)",
        (json.dumps({"role": "president"}),),
    )
    db.execute(
        "INSERT INTO templates(subject_id, model, model_version, embedding, norm, quality,"
        " source, content_hash, created_at) VALUES (1, 'sface', ?, ?, ?, ?, ?, ?, 2.0)",
        (
            _model_version("sface"),
            np.asarray(record.embedding, "<f4").tobytes(),
            record.norm,
            record.quality,
            record.source,
            record.content_hash,
        ),
    )
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()

    with Gallery.open(folder) as g:
        [(template_id, stored)] = g.templates("obama")
        assert stored.spectrum == "vis"
        np.testing.assert_array_equal(stored.embedding, record.embedding)
        assert (stored.norm, stored.source, stored.content_hash) == pytest.approx(
            (record.norm, record.source, record.content_hash)
        )
        assert g.show("obama").metadata == {"role": "president"}
        assert g.identify(data / "obama_2.jpg")[0].identity == "obama"
        g.enroll("obama", [grey(data / "obama_2.jpg")])  # the new column is written
        assert spectra(g, "obama") == ["vis", "nir"]
        assert g.integrity_check() == "ok"
    db = sqlite3.connect(folder / "gallery.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert db.execute("SELECT id, spectrum FROM templates ORDER BY id").fetchall()[0] == (
        template_id,
        "vis",
    )
    db.close()


def test_an_encrypted_gallery_keeps_the_spectrum_in_clear(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "g"
    with Gallery.open(folder, key="secret") as g:
        g.enroll("obama", [data / "obama_1.jpg", grey(data / "obama_2.jpg")])
    db = sqlite3.connect(folder / "gallery.sqlite3")
    assert [r[0] for r in db.execute("SELECT spectrum FROM templates ORDER BY id")] == [
        "vis",
        "nir",
    ]
    db.close()
    with Gallery.open(folder, key="secret") as g:
        assert spectra(g, "obama") == ["vis", "nir"]
        assert g.identify(data / "biden_left_obama_right.jpg")[1].identity == "obama"


def test_a_postgres_gallery_without_the_column_gains_it(uri: str, data: Path) -> None:
    if not uri.startswith("postgresql"):
        pytest.skip("PostgreSQL migration")
    import psycopg

    from facescope.gallery.postgres_store import SCHEMA_VERSION as PG_VERSION

    schema = uri.rsplit("schema=", 1)[1]
    with Gallery.open(uri) as g:
        g.enroll("obama", [data / "obama_1.jpg"], metadata={"role": "president"})
    dsn = uri.split("?")[0]
    with psycopg.connect(dsn, autocommit=True) as db:  # make it a v2 gallery again
        db.execute(f"ALTER TABLE {schema}.templates DROP COLUMN spectrum")
        db.execute(f"UPDATE {schema}.meta SET value = '2' WHERE key = 'schema_version'")
    with Gallery.open(uri) as g:
        assert spectra(g, "obama") == ["vis"]
        assert g.show("obama").metadata == {"role": "president"}
        assert g.identify(data / "obama_2.jpg")[0].identity == "obama"
        g.enroll("obama", [grey(data / "obama_2.jpg")])
        assert spectra(g, "obama") == ["vis", "nir"]
    with psycopg.connect(dsn, autocommit=True) as db:
        version = db.execute(
            f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'"
        ).fetchone()
    assert version == (str(PG_VERSION),)


def test_template_records_with_a_spectrum_pickle_for_ray_workers(data: Path) -> None:
    record = photo_template(grey(data / "obama_1.jpg"), "sface")
    assert record.spectrum == "nir"
    copy = pickle.loads(pickle.dumps(record))
    assert copy.spectrum == "nir" and copy.content_hash == record.content_hash
    np.testing.assert_array_equal(copy.embedding, record.embedding)
    old_style = TemplateRecord(record.embedding, 1.0, 0.5, "x", "h")  # 5 fields: still vis
    assert old_style.spectrum == "vis"


def test_templates_made_elsewhere_have_their_spectrum_checked(data: Path, tmp_path: Path) -> None:
    record = photo_template(data / "obama_1.jpg", "sface")
    with Gallery.open(tmp_path / "g") as g:
        with pytest.raises(UnknownSpectrumError, match=r"obama_1\.jpg: unknown spectrum 'uv'"):
            g.enroll_templates("obama", [dataclasses.replace(record, spectrum="uv")])
        assert len(g) == 0
        g.enroll_templates("obama", [dataclasses.replace(record, spectrum="IR")])
        assert spectra(g, "obama") == ["nir"]  # stored in canonical form


@pytest.fixture
def colour_gallery(uri: str, data: Path) -> Iterator[Gallery]:
    """Obama and Biden enrolled from colour (VIS) photos."""
    g = Gallery.open(uri)
    g.enroll("obama", [data / "obama_1.jpg"])
    g.enroll("biden", [data / "biden_1.jpg"])
    yield g
    g.close()


def test_a_strict_vis_nir_threshold_refuses_a_nir_probe_the_vis_threshold_accepts(
    colour_gallery: Gallery, data: Path
) -> None:
    g = colour_gallery
    probe = grey(data / "obama_2.jpg")  # guessed NIR
    [plain] = g.identify(probe)
    assert plain.identity == "obama" and plain.score > 0.5  # the single threshold accepts
    assert g.verify("obama", probe).same_person

    g.spectral_thresholds = thresholds({("vis", "vis"): 0.3, ("vis", "nir"): 0.95})
    [nir] = g.identify(probe)  # spectrum guessed from the probe: nir
    assert nir.identity is None and nir.threshold == pytest.approx(0.95)
    assert nir.score == pytest.approx(plain.score, abs=1e-5) and nir.score < nir.threshold
    assert [c.identity for c in nir.candidates] == [c.identity for c in plain.candidates]
    checked = g.verify("obama", probe)
    assert not checked.same_person and checked.threshold == pytest.approx(0.95)
    assert checked.fmr == 1e-3

    [told_vis] = g.identify(probe, probe_spectrum="vis")  # the caller knows better
    assert told_vis.identity == "obama" and told_vis.threshold == pytest.approx(0.3)
    assert g.verify("obama", probe, probe_spectrum="vis").same_person
    [colour] = g.identify(data / "obama_2.jpg")  # guessed VIS
    assert colour.identity == "obama" and colour.threshold == pytest.approx(0.3)

    # probes embedded elsewhere: spectrum-aware only when their spectrum is given
    faces = find_faces(probe)
    vectors = embed_faces(probe, faces, g.model).vectors
    [given] = g.identify_embeddings(faces.boxes, vectors, probe_spectrum="nir")
    assert given.identity is None and given.threshold == pytest.approx(0.95)
    [unknown] = g.identify_embeddings(faces.boxes, vectors)
    assert unknown.identity == "obama" and unknown.threshold == pytest.approx(
        g.open_set_threshold()
    )
    assert not g.verify_embedding("obama", vectors[0], probe_spectrum="nir").same_person
    assert g.verify_embedding("obama", vectors[0]).same_person

    g.spectral_thresholds = None  # back to exactly the single threshold
    [again] = g.identify(probe, probe_spectrum="nir")
    assert (again.identity, again.score, again.threshold) == (
        plain.identity,
        plain.score,
        plain.threshold,
    )


def test_a_nir_template_lets_a_nir_probe_through_its_own_pair(
    colour_gallery: Gallery, data: Path
) -> None:
    g = colour_gallery
    g.enroll("obama", [grey(data / "obama_1.jpg")], spectrum="nir")
    g.spectral_thresholds = thresholds(
        {("vis", "vis"): 0.3, ("vis", "nir"): 0.95, ("nir", "nir"): 0.4}
    )
    [found] = g.identify(grey(data / "obama_2.jpg"))
    assert found.identity == "obama" and found.threshold == pytest.approx(0.4)
    assert found.score >= found.threshold
    assert g.verify("obama", grey(data / "obama_2.jpg")).same_person
    # biden has only a VIS template: the strict vis-nir threshold decides for him
    assert not g.verify("biden", grey(data / "biden_2.jpg")).same_person


def test_an_uncalibrated_pair_is_an_error_not_a_silent_fallback(
    colour_gallery: Gallery, data: Path
) -> None:
    colour_gallery.spectral_thresholds = thresholds({("vis", "vis"): 0.3})
    with pytest.raises(UncalibratedPairError, match="vis-nir"):
        colour_gallery.identify(grey(data / "obama_2.jpg"))
    with pytest.raises(UncalibratedPairError, match="vis-thermal"):
        colour_gallery.verify("obama", data / "obama_2.jpg", probe_spectrum="thermal")


def test_spectral_thresholds_open_from_a_file_and_are_checked(data: Path, tmp_path: Path) -> None:
    saved = thresholds({("vis", "vis"): 0.3, ("vis", "nir"): 0.95}).save(tmp_path / "t.json")
    with Gallery.open(tmp_path / "g", spectral_thresholds=saved) as g:
        assert g.spectral_thresholds is not None
        assert g.spectral_thresholds.threshold("nir", "vis") == pytest.approx(0.95)
        with pytest.raises(TypeError, match="SpectralThresholds"):
            g.spectral_thresholds = 0.5  # type: ignore[assignment]
        other = SpectralThresholds(
            {("vis", "vis"): OperatingPoint(0.3, 1e-3, 1e-3, 0.0, 0.0, 1, 1000)}, model="dlib"
        )
        with pytest.raises(GalleryModelMismatchError, match="dlib"):
            g.spectral_thresholds = other


def test_cli_enrols_with_a_spectrum_and_identifies_across_spectra(
    data: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from facescope.cli import app

    runner = CliRunner()
    store = tmp_path / "g"
    result = runner.invoke(
        app, ["enroll", "obama", str(data / "obama_1.jpg"), "--gallery", str(store),
              "--spectrum", "vis"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    strict = SpectralThresholds.calibrate(
        {("vis", "vis"): (np.full(50, 0.9), np.linspace(-0.2, 0.3, 5000)),
         ("vis", "nir"): (np.full(50, 0.99), np.linspace(-0.2, 0.98, 5000))},
        fmr=1e-3, model="sface",
    ).save(tmp_path / "pairs.json")  # fmt: skip
    probe = str(data / "obama_2.jpg")
    args = ["identify", probe, "--gallery", str(store), "--spectral-thresholds", str(strict),
            "--json"]  # fmt: skip
    as_vis = runner.invoke(app, [*args, "--probe-spectrum", "vis"])
    as_nir = runner.invoke(app, [*args, "--probe-spectrum", "nir"])
    assert as_vis.exit_code == 0 and as_nir.exit_code == 0, as_nir.stdout
    assert json.loads(as_vis.stdout)[0]["faces"][0]["identity"] == "obama"
    assert json.loads(as_nir.stdout)[0]["faces"][0]["identity"] is None  # strict vis-nir pair
    bad = runner.invoke(app, ["enroll", "x", probe, "--gallery", str(store), "--spectrum", "uv"])
    assert bad.exit_code == 2 and "uv" in bad.stderr
