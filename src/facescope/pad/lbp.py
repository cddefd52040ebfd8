"""Rotation-invariant uniform local binary patterns, in numpy.

:func:`uniform_lbp` gives the same codes, bit for bit, as scikit-image's
``skimage.feature.local_binary_pattern(image, points, radius, method="uniform")``
(the PAD heads were fitted on those), without making scikit-image a runtime
dependency: ``tests/pad/test_pad_lbp.py`` checks the equality where scikit-image is
installed.

Each of the `points` neighbours sits on a circle of `radius` around the pixel,
at angle ``2 pi i / points`` (row offset ``-radius sin``, column offset
``radius cos``, both rounded to 5 decimals), and is read by bilinear
interpolation with zeros outside the image. A neighbour at least as bright as
the centre is a 1. A pattern with at most two 0/1 changes around the circle is
*uniform* and its code is its number of ones (0 to `points`); every other
pattern is code ``points + 1``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["uniform_lbp"]


def uniform_lbp(
    image: npt.ArrayLike, points: int = 8, radius: float = 1.0
) -> npt.NDArray[np.float64]:
    """Uniform LBP code of every pixel of a 2-D image, as float64 (scikit-image's dtype)."""
    pixels = np.ascontiguousarray(image, dtype=np.float64)
    if pixels.ndim != 2:
        raise ValueError(f"uniform_lbp needs a 2-D image, got shape {pixels.shape}")
    if points < 1 or radius <= 0:
        raise ValueError(f"uniform_lbp needs points >= 1 and radius > 0, got {points}, {radius}")
    rows, cols = pixels.shape
    angles = 2 * np.pi * np.arange(points, dtype=np.float64) / points
    row_offsets = np.round(-radius * np.sin(angles), 5)
    col_offsets = np.round(radius * np.cos(angles), 5)
    pad = int(np.ceil(radius)) + 1
    padded = np.zeros((rows + 2 * pad, cols + 2 * pad), np.float64)
    padded[pad : pad + rows, pad : pad + cols] = pixels
    row_index = np.arange(rows, dtype=np.float64)
    col_index = np.arange(cols, dtype=np.float64)
    bits = np.empty((points, rows, cols), np.int8)
    for i in range(points):
        # the sample position and its fractions exactly as scikit-image computes them
        # (pixel index + offset, then floor): the rounding decides ties with the centre
        r = row_index + row_offsets[i]
        c = col_index + col_offsets[i]
        r0, r1 = np.floor(r), np.ceil(r)
        c0, c1 = np.floor(c), np.ceil(c)
        dr = (r - r0)[:, None]
        dc = (c - c0)[None, :]
        top_rows, bottom_rows = r0.astype(np.intp) + pad, r1.astype(np.intp) + pad
        left, right = c0.astype(np.intp) + pad, c1.astype(np.intp) + pad
        top = (1 - dc) * padded[np.ix_(top_rows, left)] + dc * padded[np.ix_(top_rows, right)]
        bottom = (1 - dc) * padded[np.ix_(bottom_rows, left)] + dc * padded[
            np.ix_(bottom_rows, right)
        ]
        value = (1 - dr) * top + dr * bottom
        bits[i] = (value - pixels) >= 0
    # changes along the chain without the wrap-around pair, as scikit-image counts them
    # (for the <= 2 test the two counts agree: a circular count is even)
    changes = np.count_nonzero(bits[:-1] != bits[1:], axis=0)
    ones = bits.sum(axis=0, dtype=np.int64)
    return np.where(changes <= 2, ones, points + 1).astype(np.float64)
