"""The 52 ARKit blendshape names, their Live Link Face spelling, and what the mesh cannot see.

:data:`SHAPES` is in Apple's ``ARFaceAnchor.BlendShapeLocation`` order as Unreal's
``EARFaceBlendShape`` enumerates it (the order the Live Link Face app writes its
CSV columns in). ``Left``/``Right`` are the performer's own sides: ``eyeBlinkLeft``
closes the performer's left eye, which is on the image's right in an unmirrored
camera image.
"""

from __future__ import annotations

#: The 52 ARKit blendshape names (camelCase), in Live Link Face order.
SHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip

#: Index of each shape in :data:`SHAPES`.
INDEX: dict[str, int] = {name: i for i, name in enumerate(SHAPES)}

#: Shapes a 478-point mesh from one RGB camera cannot observe reliably: always 0, flagged.
UNOBSERVED: dict[str, str] = {
    "jawForward": "needs absolute depth of the chin; the mesh's z is a relative guess",
    "mouthDimpleLeft": "a dimple changes shading, not the mesh's lip points",
    "mouthDimpleRight": "a dimple changes shading, not the mesh's lip points",
    "cheekPuff": "a puffed cheek changes the silhouette in depth, which the mesh does not track",
    "tongueOut": "the mesh has no tongue points",
}


def pascal(name: str) -> str:
    """The Live Link Face spelling of a shape (``eyeBlinkLeft`` -> ``EyeBlinkLeft``)."""
    return name[:1].upper() + name[1:]


#: Live Link Face CSV columns after the 52 shapes (head and eye rotations).
LIVELINK_EXTRA: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip

assert len(SHAPES) == 52 and len(set(SHAPES)) == 52
