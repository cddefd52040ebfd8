"""Spectrum names, pair keys and the statistics-based spectrum guess."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from facescope.errors import FacescopeError
from facescope.spectral import (
    SpectralError,
    Spectrum,
    UnknownSpectrumError,
    guess_spectrum,
    pair_key,
    pair_name,
    parse_spectrum,
    pseudo_nir,
    spectrum_statistics,
)

_LOADERS = {"astronaut": skdata.astronaut, "chelsea": skdata.chelsea, "coffee": skdata.coffee}


def _half(image: np.ndarray) -> np.ndarray:
    return cv2.resize(
        image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA
    )


#: Public-domain scikit-image photos at half size (the guess works at 112 px anyway).
PHOTOS = {name: _half(load()) for name, load in _LOADERS.items()}


def _grey3(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[..., None], 3, axis=2)


def _thermal_like(image: np.ndarray) -> np.ndarray:
    """Inverted, heavily blurred greyscale: smooth, texture-free, like a black-hot capture."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    blurred = cv2.GaussianBlur(grey, (0, 0), max(3.0, min(grey.shape) / 25))
    return np.repeat((255 - blurred)[..., None], 3, axis=2)


def test_spectrum_is_a_str_enum() -> None:
    assert Spectrum.NIR == "nir"
    assert str(Spectrum.THERMAL) == "thermal"
    assert {s.value for s in Spectrum} == {"vis", "nir", "thermal"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("vis", Spectrum.VIS), (" NIR ", Spectrum.NIR), ("Visible", Spectrum.VIS),
     ("lwir", Spectrum.THERMAL), (Spectrum.NIR, Spectrum.NIR)],
)  # fmt: skip
def test_parse_spectrum(name: str, expected: Spectrum) -> None:
    assert parse_spectrum(name) is expected


@pytest.mark.parametrize("bad", ["uv", "", "x-ray"])
def test_parse_spectrum_unknown_name(bad: str) -> None:
    with pytest.raises(UnknownSpectrumError, match="choose one of") as info:
        parse_spectrum(bad)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, FacescopeError)


def test_parse_spectrum_wrong_type() -> None:
    with pytest.raises(UnknownSpectrumError):
        parse_spectrum(3)  # type: ignore[arg-type]


def test_pair_key_is_unordered() -> None:
    assert pair_key("nir", "vis") == pair_key(Spectrum.VIS, "NIR") == (Spectrum.VIS, Spectrum.NIR)
    assert pair_name("thermal", "vis") == "vis-thermal"
    assert pair_name("nir", "nir") == "nir-nir"


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_guess_tells_colour_photos_from_nir_like_ones(name: str) -> None:
    photo = PHOTOS[name]
    assert guess_spectrum(photo) is Spectrum.VIS
    assert guess_spectrum(pseudo_nir(photo, rng=0)) is Spectrum.NIR
    assert guess_spectrum(_grey3(photo)) is Spectrum.NIR


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_guess_thermal_from_smooth_or_false_colour_images(name: str) -> None:
    photo = PHOTOS[name]
    assert guess_spectrum(_thermal_like(photo)) is Spectrum.THERMAL
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    heat = cv2.applyColorMap(cv2.GaussianBlur(grey, (0, 0), 6), cv2.COLORMAP_INFERNO)
    assert guess_spectrum(heat[..., ::-1].copy()) is Spectrum.THERMAL


def test_guess_survives_jpeg_compression_of_pseudo_nir() -> None:
    nir = pseudo_nir(PHOTOS["astronaut"], rng=1)
    ok, buffer = cv2.imencode(".jpg", nir, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    assert decoded is not None
    decoded = decoded[..., ::-1].copy()
    assert guess_spectrum(decoded) is Spectrum.NIR


def test_statistics_are_reported() -> None:
    photo = PHOTOS["astronaut"]
    colour, grey = spectrum_statistics(photo), spectrum_statistics(_grey3(photo))
    assert colour.chroma > 10 > 1 > grey.chroma
    assert grey.saturation == pytest.approx(0.0)
    assert spectrum_statistics(_thermal_like(photo)).texture < grey.texture / 3
    assert set(colour.to_dict()) >= {"chroma", "saturation", "texture", "palette_distance"}
    assert spectrum_statistics(_grey3(photo)).to_dict()["palette_distance"] is None


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [[1, 2, 3]],
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((32, 32), np.uint8),
        np.zeros((32, 32, 4), np.uint8),
        np.zeros((32, 32, 3), np.float32),
        np.full((32, 32, 3), np.nan),
    ],
)
def test_guess_rejects_bad_images(bad: object) -> None:
    with pytest.raises(SpectralError):
        guess_spectrum(bad)


def test_every_public_name_resolves() -> None:
    import facescope.spectral as spectral

    for name in spectral.__all__:
        assert getattr(spectral, name) is not None
    with pytest.raises(AttributeError):
        _ = spectral.no_such_name
