"""Fit the canonical 3D face and the mesh -> dlib-68 index map; write face_geometry.json.

Both are statistics over many faces, not copies of any image:

* canonical face: the generalised-Procrustes mean (3D similarity alignment) of
  the MediaPipe mesh over the faces given, turned upright (x along the outer eye
  corners, y from the eyes' midpoint towards the chin, z away from the camera)
  and scaled to 90 mm between the outer eye corners (an adult mean biocular width);
* dlib-68 map: for each of dlib's 68 points, the mesh vertex whose position
  (in eye-distance units, after a per-face similarity alignment) is nearest on
  average, with the mean residual per region.

Usage::

    python scripts/analysis/fit_face_geometry.py \
        ../shared/testdata/faces/aligned_celebrities ../shared/testdata/faces/public_portraits
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import numpy as np
from rich.progress import track

from facescope.analysis.landmarks68 import landmarks68
from facescope.analysis.mesh import shared_mesher
from facescope.io.image import load_image
from facescope.pipeline import find_faces

OUT = Path(__file__).resolve().parents[2] / "src/facescope/analysis/face_geometry.json"
REGIONS68 = {
    "jaw": range(0, 17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "lips": range(48, 68),
}


def similarity_3d(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Source points aligned onto target by rotation, uniform scale and translation."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rotation = u @ fix @ vt
    scale = (s * np.diag(fix)).sum() / (a**2).sum()
    return (a @ rotation) * scale + mu_t


def similarity_2d(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    return similarity_3d(
        np.c_[source, np.zeros(len(source))], np.c_[target, np.zeros(len(target))]
    )[:, :2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    paths = sorted(
        p for f in args.folders for p in f.rglob("*") if p.suffix.lower() in (".jpg", ".png")
    )
    meshes, shapes68 = [], []
    mesher = shared_mesher()
    for path in track(paths, description="meshing"):
        rgb = load_image(path)
        faces = find_faces(rgb)
        for i in range(len(faces)):
            found = mesher.mesh(rgb, faces.boxes[i])
            if found is None or found.inside < 0.9:
                continue
            meshes.append(found.points.astype(np.float64))
            shapes68.append(landmarks68(rgb, faces.landmarks5[i]).astype(np.float64))
    stack = np.stack(meshes)
    # generalised Procrustes
    mean = stack[0] - stack[0].mean(0)
    for _ in range(10):
        aligned = np.stack([similarity_3d(m, mean) for m in stack])
        new = aligned.mean(0)
        new -= new.mean(0)
        new *= np.sqrt((mean**2).sum() / (new**2).sum())
        if np.abs(new - mean).max() < 1e-6:
            break
        mean = new
    # upright frame: x along the outer eye corners, y towards the chin, z away from the camera
    x = mean[263] - mean[33]
    x /= np.linalg.norm(x)
    down = mean[152] - (mean[33] + mean[263]) / 2
    y = down - x * (down @ x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    frame = np.stack([x, y, z], axis=1)
    eyes_mid = (mean[33] + mean[263]) / 2
    canonical = (mean - eyes_mid) @ frame
    canonical *= 90.0 / np.linalg.norm(canonical[263] - canonical[33])
    # nose tip (1) nearest the camera: z must be smallest there
    if canonical[1, 2] > canonical[:468, 2].mean():
        raise SystemExit("canonical face came out mirrored in depth")
    # the dlib-68 map, in units of the outer-eye-corner distance
    errors = np.zeros((68, 468))
    for mesh, s68 in zip(meshes, shapes68, strict=True):
        unit = np.linalg.norm(mesh[263, :2] - mesh[33, :2])
        xy = mesh[:468, :2]
        errors += np.linalg.norm(s68[:, None, :] - xy[None, :, :], axis=2) / unit
    errors /= len(meshes)
    index = errors.argmin(1)
    residual = errors[np.arange(68), index]
    report = {name: round(float(residual[list(r)].mean()), 4) for name, r in REGIONS68.items()}
    payload = {
        "about": __doc__.split("\n\n")[0],
        "command": "python scripts/analysis/fit_face_geometry.py "
        + " ".join(map(str, args.folders)),
        "date": datetime.date.today().isoformat(),
        "faces": len(meshes),
        "canonical_mm": np.round(canonical, 3).tolist(),
        "dlib68_to_mesh": index.tolist(),
        "dlib68_residual_eye_units": report,
    }
    args.out.write_text(json.dumps(payload) + "\n")
    print(f"{len(meshes)} faces; residual per region (outer-eye-distance units): {report}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
