"""The face that presentation-attack detection looks at: the largest one, aligned."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facescope.align.template import warp_to_template
from facescope.errors import NoFaceError
from facescope.io import ImageInput, load_image
from facescope.pipeline import find_faces, largest


def face_crop(
    image: ImageInput,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """(aligned 112x112 crop, box x1 y1 x2 y2, the decoded RGB image) of the largest face.

    Raises:
        InvalidImageError: the input is not a decodable image.
        NoFaceError: no face was found.
    """
    rgb = load_image(image)
    face = largest(find_faces(rgb))
    if len(face) == 0:
        raise NoFaceError("no face found: presentation-attack detection needs a visible face")
    return warp_to_template(rgb, face.landmarks5[0]), face.boxes[0], rgb


__all__ = ["face_crop"]
