"""Container images mapped onto this machine: what ``/usr/local`` of a pod holds.

An image here is a directory mounted at ``/usr/local`` in the pod. For ``python:3.X`` it is a
virtual environment of the pyenv interpreter 3.X (``/usr/local/bin/python3``, site-packages at
``/usr/local/lib/python3.X/site-packages``, pip included: the layout of Docker's official python
images), with nothing of the client's or pyenv's site-packages; an image may add pip
requirements or extra site directories (a pydflow image). Images without Python (``alpine``,
``busybox``...) get ``python``/``python3`` that fail as "not found" (exit 127), so a script
cannot silently use the machine's interpreter. Built directories are cached under
:func:`conformance.common.cache_dir` and shared by concurrent tests (a file lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from conformance.common import HarnessError, cache_dir

_PYTHON_PATH = "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NO_PYTHON = ("alpine", "busybox", "ubuntu", "debian", "bash")


@dataclass(frozen=True)
class Image:
    """How an image name maps onto this machine."""

    name: str
    python: str | None  # the pyenv interpreter behind python/python3, None: no Python
    site: tuple[str, ...] = ()  # extra directories on the image Python's sys.path (.pth)
    requirements: tuple[str, ...] = ()  # pip requirements installed into the image
    env: dict[str, str] = field(default_factory=dict)  # the image's ENV (PATH, LANG...)
    workdir: str = "/"  # WORKDIR
    entrypoint: tuple[str, ...] = ()  # ENTRYPOINT / CMD, for a container without command
    cmd: tuple[str, ...] = ()

    @property
    def version(self) -> str | None:
        """``"3.8"`` for an image whose Python is 3.8.x."""
        if self.python is None:
            return None
        m = re.search(r"(\d+\.\d+)(\.\d+)?/bin/", self.python)
        return m.group(1) if m else None


_registry: dict[str, Image] = {}
_lock = threading.Lock()


def register_image(name: str, image: Image) -> None:
    """Make ``name`` (exact, with tag) resolve to ``image`` (e.g. an image with pydflow)."""
    with _lock:
        _registry[name] = image


def pyenv_python(version: str) -> str:
    """The newest pyenv interpreter ``version`` (``"3.8"``): ``.../versions/3.8.18/bin/python3.8``."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = sorted(
        (tuple(int(x) for x in d.name.split(".")), d)
        for d in root.glob(version + ".*")
        if re.fullmatch(r"\d+\.\d+\.\d+", d.name)
    )
    for _, d in reversed(found):
        exe = d / "bin" / f"python{version}"
        if exe.exists():
            return str(exe)
    raise HarnessError(
        f"no Python {version} interpreter for image python:{version}: expected pyenv's "
        f"{root}/{version}.N/bin/python{version} (pyenv install {version})"
    )


def _newest_python() -> str:
    for minor in range(20, 6, -1):
        try:
            return pyenv_python(f"3.{minor}")
        except HarnessError:
            continue
    raise HarnessError("no pyenv interpreter 3.7 .. 3.20 found for image python:latest")


def resolve_image(name: str) -> Image:
    """``python:3.8``, ``python:3.8-slim``, ``docker.io/library/python:3.12.1-bookworm``
    -> the pyenv interpreter of that minor version; registered names first."""
    with _lock:
        if name in _registry:
            return _registry[name]
    repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    base = repo.rsplit("/", 1)[-1]
    if repo in ("python", "library/python", "docker.io/library/python"):
        m = re.match(r"(\d+)\.(\d+)", tag)
        exe = pyenv_python(f"{m.group(1)}.{m.group(2)}") if m else _newest_python()
        return _python_image(name, exe)
    if base in _NO_PYTHON:
        return Image(name, None, env={"PATH": _SYSTEM_PATH})
    raise HarnessError(
        f"image {name!r} is not known to the conformance harness: use python:3.X[-variant], "
        "an image without Python (alpine, busybox...), or register_image(name, Image(...))"
    )


def _python_image(name: str, exe: str, **kwargs) -> Image:
    version = re.search(r"versions/([\d.]+)/", exe)
    env = {"PATH": _PYTHON_PATH, "LANG": "C.UTF-8"}
    if version:
        env["PYTHON_VERSION"] = version.group(1)
    return Image(name, exe, env=env, cmd=("python3",), **kwargs)


def python_image(
    name: str, version: str, *, requirements: tuple[str, ...] = (), site: tuple[str, ...] = ()
) -> Image:
    """An image of Python ``version`` with extra ``requirements`` or ``site`` dirs (to register)."""
    return _python_image(name, pyenv_python(version), requirements=requirements, site=site)


def prefix(image: Image) -> Path:
    """The directory mounted at ``/usr/local`` for ``image``, built once and cached."""
    key = hashlib.sha256(repr((image.python, image.site, image.requirements)).encode()).hexdigest()
    tag = f"py{image.version}" if image.python else "nopython"
    target = cache_dir() / "images" / f"{tag}-{key[:12]}"
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock, open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be building it
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            _build(image, target)
            (target / ".complete").write_text(image.name + "\n")
    return target


def _build(image: Image, target: Path) -> None:
    if image.python is None:
        (target / "bin").mkdir(parents=True)
        for name in ("python", "python3"):
            stub = target / "bin" / name
            # what sh prints for a command the image does not have
            stub.write_text(f'#!/bin/sh\necho "sh: {name}: not found" >&2\nexit 127\n')
            stub.chmod(0o755)
        return
    _run([image.python, "-m", "venv", str(target)], image)
    py = target / "bin" / "python"
    if image.requirements:
        _run(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *image.requirements,
            ],
            image,
        )
    if image.site:
        out = subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        )
        Path(out.stdout.strip(), "_conformance_site.pth").write_text("\n".join(image.site) + "\n")


def _run(cmd: list[str], image: Image) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise HarnessError(
            f"building image {image.name!r} failed: {' '.join(cmd)}\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
