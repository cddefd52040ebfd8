"""The 478-point 3D face mesh (MediaPipe attention mesh with iris), per detected face.

facescope finds faces with YuNet (:mod:`facescope.detect`) and runs MediaPipe's
legacy ``solutions.face_mesh`` graph on a square crop around each face, twice
the box's side, padded with black where it leaves the image. Inside a crop where
the face is large, MediaPipe's own short-range detector is reliable, so the mesh
follows our detections (any number of faces, any image size) rather than its
detector's 128-px view of the whole frame.

Points are returned in image pixels: ``x`` and ``y`` as in the image, ``z`` the
relative depth in the same pixel scale (smaller is nearer the camera; MediaPipe's
convention). Indices 0-467 are the face mesh, 468-472 the right iris (in the
image's left eye: centre, then four rim points), 473-477 the left iris.

The model files are checked by SHA-256 (:mod:`facescope.models.registry`) before
the graph is first built; the graph is not thread-safe, so calls are serialised.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.errors import ModelNotAvailableError
from facescope.models.registry import verified_path

#: Number of points with the iris refinement.
N_POINTS = 478
#: Square side (pixels) the crop around a face is resized to before the mesh runs.
CROP_SIZE = 256
#: Crop side relative to the larger side of the face box.
CROP_SCALE = 2.0

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FaceMesh:
    """One face's mesh.

    Attributes:
        points: (478, 3) float32 ``x, y, z`` in image pixels (see the module docs).
        inside: share of the 468 face points that fall inside the image (1.0 for
            a whole face; lower for faces cut by the border).
    """

    points: FloatArray
    inside: float

    @property
    def xy(self) -> FloatArray:
        """(478, 2) image coordinates."""
        return self.points[:, :2]

    @property
    def scale(self) -> float:
        """Outer eye-corner distance in pixels (the mesh's natural unit of size)."""
        return float(np.linalg.norm(self.points[33, :2] - self.points[263, :2]))


class Mesher:
    """Runs the MediaPipe face mesh on crops around given face boxes."""

    def __init__(self, crop_scale: float = CROP_SCALE, crop_size: int = CROP_SIZE) -> None:
        self.crop_scale = float(crop_scale)
        self.crop_size = int(crop_size)
        self._lock = threading.Lock()
        self._graph: Any = None

    def _build(self) -> Any:
        verified_path("mediapipe_face_detection")
        verified_path("mediapipe_face_mesh")
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from mediapipe.python.solutions import face_mesh
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelNotAvailableError(
                f"the face mesh needs mediapipe==0.10.14 ({exc}); reinstall with: "
                'pip install "mediapipe==0.10.14"'
            ) from exc
        return face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=0.3,
        )

    def mesh(self, rgb: npt.NDArray[np.uint8], box: npt.ArrayLike) -> FaceMesh | None:
        """The mesh of the face in `box` (``x1, y1, x2, y2``), or None where it fails.

        None means MediaPipe found no face in the crop: typically a profile view,
        a heavily occluded face, or a face too small to carry a mesh.
        """
        x1, y1, x2, y2 = (float(v) for v in np.asarray(box, np.float64).reshape(4))
        side = max(x2 - x1, y2 - y1) * self.crop_scale
        if not np.isfinite(side) or side < 8:
            return None
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        left, top = cx - side / 2.0, cy - side / 2.0
        scale = self.crop_size / side
        # an affine map from the crop window to a crop_size square; black outside the image
        warp = np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]], np.float64)
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = cv2.warpAffine(
            np.ascontiguousarray(rgb),
            warp,
            (self.crop_size, self.crop_size),
            flags=interpolation,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        with self._lock, warnings.catch_warnings():
            # protobuf 4.25 warns on every call that mediapipe's GetPrototype is deprecated
            warnings.simplefilter("ignore", UserWarning)
            if self._graph is None:
                self._graph = self._build()
            result = self._graph.process(crop)
        found = result.multi_face_landmarks
        if not found:
            return None
        marks = found[0].landmark
        normalised = np.array([(p.x, p.y, p.z) for p in marks], np.float64)
        if normalised.shape[0] != N_POINTS:
            return None
        points = np.empty_like(normalised)
        points[:, 0] = normalised[:, 0] * side + left
        points[:, 1] = normalised[:, 1] * side + top
        points[:, 2] = normalised[:, 2] * side
        height, width = rgb.shape[:2]
        face = points[:468]
        inside = float(
            np.mean(
                (face[:, 0] >= 0) & (face[:, 0] < width) & (face[:, 1] >= 0) & (face[:, 1] < height)
            )
        )
        return FaceMesh(points.astype(np.float32), inside)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        with self._lock:
            if self._graph is not None:
                self._graph.close()
                self._graph = None


_SHARED: Lazy[Mesher] = Lazy(Mesher)


def shared_mesher() -> Mesher:
    """The process-wide mesher (built on first use)."""
    return _SHARED.get()
