"""Performance-driven animation of stylized 3D characters (see docs/animate.md).

A face performance (a video, or one photo) drives a character: the 52 ARKit
blendshapes solved from the mesh (:mod:`.solver`), filtered without lag
(:mod:`.filter`), retargeted through a JSON rig (:mod:`.rig`) onto the built-in
stylized head (:mod:`.character`), and exported as CSV (plain and Live Link
Face), JSON, glTF binary (:mod:`.gltf`) and a preview (:mod:`.render`).
Names are imported on first use.
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "AnimateError": "facescope.animate.errors",
    "SHAPES": "facescope.animate.shapes",
    "UNOBSERVED": "facescope.animate.shapes",
    "BlendshapeSolver": "facescope.animate.solver",
    "NeutralCalibration": "facescope.animate.solver",
    "ShapeFilter": "facescope.animate.filter",
    "Rig": "facescope.animate.rig",
    "default_character": "facescope.animate.character",
    "render_head": "facescope.animate.render",
    "write_glb": "facescope.animate.gltf",
    "Performance": "facescope.animate.performance",
    "AnimationResult": "facescope.animate.performance",
    "animate": "facescope.animate.performance",
    "solve_performance": "facescope.animate.performance",
    "transfer_emotion": "facescope.animate.performance",
}

__getattr__ = lazy_exports("facescope.animate", _EXPORTS)

__all__ = sorted(_EXPORTS)
