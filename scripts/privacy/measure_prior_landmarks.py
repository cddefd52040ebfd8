"""Measure where the DCGAN prior puts the 5 landmarks (median over YuNet detections).

Usage: python scripts/privacy/measure_prior_landmarks.py [N]
Prints the (5, 2) array pasted into ``DCGAN_LANDMARKS5`` in prior.py, and the
share of samples in which YuNet finds a face.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from facescope.detect.faces import detect_faces
from facescope.privacy.prior import DCGANPrior

UPSCALE = 4
PAD = 64


def main(n: int = 1024) -> None:
    prior = DCGANPrior()
    images = prior.decode(prior.sample(n, np.random.default_rng(0)))
    points = []
    for image in images:
        big = cv2.resize(image, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
        faces = detect_faces(big)
        if len(faces):
            best = int(np.argmax(faces.areas))
            points.append((faces.landmarks5[best] - PAD) / UPSCALE)
    found = np.array(points)
    print(f"face found in {len(found)}/{n} samples")
    print(np.array2string(np.median(found, axis=0), precision=2, separator=", "))
    print(
        "spread (median abs deviation, px):",
        np.median(np.abs(found - np.median(found, 0)), 0).round(2),
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
