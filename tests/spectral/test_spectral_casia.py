"""CASIA NIR-VIS 2.0 protocol loader, on a small fake tree."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facescope.errors import FacescopeError
from facescope.spectral import CasiaLayoutError, Spectrum, load_casia_nir_vis

SUBJECTS = {"s1": ["10001", "10002"], "s2": ["10117"]}


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 8, 3), value, np.uint8))


@pytest.fixture()
def casia(tmp_path: Path) -> Path:
    """NIR-VIS-2.0/ with s1, s2, two images per subject and spectrum, views 1 and dev."""
    root = tmp_path / "NIR-VIS-2.0"
    for session, subjects in SUBJECTS.items():
        for subject in subjects:
            for k in (1, 2):
                _image(root / session / "NIR" / subject / f"{k:03d}.bmp", 40 + k)
                _image(root / session / "VIS" / subject / f"{k:03d}.jpg", 200 + k)
    protocols = root / "protocols"
    protocols.mkdir()
    gallery = ["s1\\VIS\\10001\\001.jpg", "s1\\VIS\\10002\\001.jpg", "s2\\VIS\\10117\\001.jpg"]
    probe = [
        "s1\\NIR\\10001\\001.bmp",
        "s1\\nir\\10001\\002.BMP",  # case differs from the files on disk
        "s1/NIR/10002/002.bmp",  # forward slashes
        "s2\\NIR\\10117\\002.bmp",
    ]
    (protocols / "vis_gallery_1.txt").write_text("\r\n".join(gallery) + "\r\n")
    (protocols / "nir_probe_1.txt").write_text("\ufeff" + "\n".join(probe) + "\n\n")
    (protocols / "vis_train_1.txt").write_text("s1\\VIS\\10002\\002.jpg\n")
    (protocols / "nir_train_1.txt").write_text("s1\\NIR\\10002\\001.bmp\n")
    (protocols / "vis_gallery_dev.txt").write_text(gallery[0] + "\n")
    (protocols / "NIR_PROBE_DEV.TXT").write_text(probe[0] + "\n")
    return root


def test_loads_gallery_and_probe(casia: Path) -> None:
    protocol = load_casia_nir_vis(casia, view=1)
    assert protocol.view == 1 and protocol.root == casia
    assert [(g.subject, g.spectrum) for g in protocol.gallery] == [
        ("10001", Spectrum.VIS), ("10002", Spectrum.VIS), ("10117", Spectrum.VIS),
    ]  # fmt: skip
    assert [p.subject for p in protocol.probe] == ["10001", "10001", "10002", "10117"]
    assert {p.spectrum for p in protocol.probe} == {Spectrum.NIR}
    for image in protocol.gallery + protocol.probe:
        assert image.path.is_file()
        path, subject, spectrum = image  # plain (path, subject, spectrum) tuples
        assert subject in path.parts and spectrum.value.upper() in path.parts
    assert protocol.probe[1].path == casia / "s1" / "NIR" / "10001" / "002.bmp"
    assert [(t.subject, t.spectrum) for t in protocol.train] == [
        ("10002", Spectrum.VIS), ("10002", Spectrum.NIR),
    ]  # fmt: skip


def test_parent_folder_and_dev_view(casia: Path) -> None:
    protocol = load_casia_nir_vis(casia.parent, view="dev")  # folder holding NIR-VIS-2.0
    assert protocol.root == casia
    assert len(protocol.gallery) == len(protocol.probe) == 1
    assert protocol.train == []


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(CasiaLayoutError, match="does not exist") as info:
        load_casia_nir_vis(tmp_path / "nowhere")
    assert isinstance(info.value, FacescopeError) and isinstance(info.value, ValueError)
    with pytest.raises(CasiaLayoutError, match="no protocols"):
        load_casia_nir_vis(tmp_path)


def test_missing_protocol_file_and_bad_view(casia: Path) -> None:
    with pytest.raises(CasiaLayoutError, match=r"vis_gallery_2\.txt"):
        load_casia_nir_vis(casia, view=2)
    for view in (0, 11, "1", True, None):
        with pytest.raises(CasiaLayoutError, match="view"):
            load_casia_nir_vis(casia, view=view)  # type: ignore[arg-type]


def test_missing_images(casia: Path) -> None:
    (casia / "s2" / "NIR" / "10117" / "002.bmp").unlink()
    with pytest.raises(CasiaLayoutError, match=r"1 listed image\(s\) not found"):
        load_casia_nir_vis(casia)
    assert len(load_casia_nir_vis(casia, missing="skip").probe) == 3
    kept = load_casia_nir_vis(casia, missing="keep").probe
    assert len(kept) == 4 and not kept[-1].path.exists()
    with pytest.raises(CasiaLayoutError, match="missing must be"):
        load_casia_nir_vis(casia, missing="ignore")  # type: ignore[arg-type]


def test_malformed_line(casia: Path) -> None:
    (casia / "protocols" / "nir_probe_1.txt").write_text("s1\\NIR\\10001\\001.bmp\n001.bmp\n")
    with pytest.raises(CasiaLayoutError, match="line 2"):
        load_casia_nir_vis(casia)
    (casia / "protocols" / "nir_probe_1.txt").write_text("\n")
    with pytest.raises(CasiaLayoutError, match="lists no images"):
        load_casia_nir_vis(casia)
