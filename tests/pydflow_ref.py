"""pydflow 1.8.134 as a reference to compare with, fetched from PyPI at test time (never kept
in this repository): its sdist (for its tests), a venv with it installed (to run the same
workflow under both), and a normalized listing of a run's directories.

Used by ``test_pydflow_suite.py`` and ``test_pydflow_layout.py``; everything is cached under
``.work/``. Without PyPI the tests fail and say so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".work"
VERSION = "1.8.134"
SDIST = f"pydflow-{VERSION}.tar.gz"


def _fail(what: str, cmd: list[str], proc: subprocess.CompletedProcess) -> None:
    raise AssertionError(
        f"cannot {what} ({' '.join(cmd)} exited with {proc.returncode}):\n"
        f"{(proc.stderr or proc.stdout or '').strip()[-2000:]}\nThis test needs PyPI."
    )


def sdist() -> Path:
    """pydflow's sdist, downloaded into ``.work/pydflow-sdist/`` the first time."""
    cache = WORK / "pydflow-sdist"
    path = cache / SDIST
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--dest",
        str(cache),
        f"pydflow=={VERSION}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not path.is_file():
        _fail(
            f"download pydflow {VERSION}'s sdist from PyPI (or put {SDIST} into {cache})", cmd, proc
        )
    return path


def extract_tests(dest: Path) -> Path:
    """Extract ``<sdist>/tests/*`` into ``dest/tests`` and return that dir."""
    prefix = f"pydflow-{VERSION}/tests/"
    with tarfile.open(sdist()) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()]
        for m in members:
            m.name = "tests/" + m.name[len(prefix) :]
        tar.extractall(dest, members=members, filter="data")
    return dest / "tests"


def pydflow_python() -> Path:
    """The python of ``.work/pydflow-venv`` (pydflow installed from PyPI the first time)."""
    venv = WORK / "pydflow-venv"
    python = venv / "bin" / "python"
    marker = venv / f".pydflow-{VERSION}"
    if marker.exists():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is not None:
        steps = [
            [uv, "venv", "-q", "--clear", "--python", base, str(venv)],
            [uv, "pip", "install", "-q", "--python", str(python), f"pydflow=={VERSION}", "pytest"],
        ]
    else:
        steps = [
            [base, "-m", "venv", "--clear", str(venv)],
            [str(python), "-m", "pip", "install", "-q", f"pydflow=={VERSION}", "pytest"],
        ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            _fail(f"install pydflow {VERSION} into {venv}", cmd, proc)
    marker.touch()
    return python


def run_env(python: Path) -> dict[str, str]:
    """Debug mode; ``python3`` (pydflow's step interpreter, found on PATH) is ``python``'s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFLOW_", "PYTHONPATH"))}
    env["DFLOW_MODE"] = "debug"
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# -- a run's directories, normalized ------------------------------------------------------------

ENGINE_FILES = {"journal.db", "journal.db-wal", "journal.db-shm", "runner.lock"}
HIDDEN = {".groups", ".combined"}  # ours: a loop's shared inputs and stacked outputs
UNREAD = ("pid", "log.txt", "script", "children.lock")  # contents differ by nature
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TMPDIR = re.compile(r"/tmp[a-z0-9_]{8}\b")
_CACHE = re.compile(r"/\.cache/[a-z0-9]+-[0-9a-f]{10}\b")


def tree(root: Path) -> list[str]:
    """Every workflow dir under ``root`` as sorted lines ``D path``, ``F path = text``,
    ``L path -> target``: random ids replaced (``WF``, ``<step@order>``), uuids and temporary
    names masked, the contents of pid/log/script files left out."""
    root = root.resolve()
    wfs = sorted(d.name for d in root.iterdir() if (d / "status").is_file())
    names: dict[str, str] = {}
    for wf in wfs:
        names[wf] = "WF" if len(wfs) == 1 else f"WF[{wf.rsplit('-', 1)[0]}]"
        for holder, dirs, files in os.walk(root / wf):
            dirs[:] = [d for d in dirs if d != ".dflow" and d not in HIDDEN]
            if "children" in files:
                for order, d in json.loads(Path(holder, "children").read_text()).items():
                    if d.startswith(wf + "-"):
                        names[d] = f"<{d[len(wf) + 1 : -6]}@{order}>"
        for d in os.listdir(root / wf):
            if d.startswith(wf + "-") and d not in names:
                names[d] = f"<{d[len(wf) + 1 : -6]}@?>"

    def norm(text: str) -> str:
        text = text.replace(str(root), "<ROOT>").replace("//", "/")
        text = "/".join(names.get(part, part) for part in text.split("/"))
        text = _UUID.sub("<uuid>", text)
        return _CACHE.sub("/.cache/<key>", _TMPDIR.sub("/<tmp>", text))

    lines = []
    for wf in wfs:
        base = root / wf
        for dirpath, dirs, files in os.walk(base):
            if dirpath == str(base):
                dirs[:] = [d for d in dirs if d not in HIDDEN]
            for name in dirs + files:
                if name in ENGINE_FILES:
                    continue
                path = Path(dirpath, name)
                rel = names[wf] + norm("/" + str(path.relative_to(base)))
                if path.is_symlink():
                    lines.append(f"L {rel} -> {norm(os.readlink(path))}")
                elif path.is_dir():
                    lines.append(f"D {rel}")
                elif name in UNREAD or path.stat().st_size > 300:
                    lines.append(f"F {rel}")
                elif name == "children":
                    kids = json.loads(path.read_text())
                    lines.append(
                        f"F {rel} = "
                        + json.dumps({k: names.get(v, v) for k, v in sorted(kids.items())})
                    )
                else:
                    text = path.read_text(errors="replace").replace("\n", "\\n")
                    lines.append(f"F {rel} = {norm(text)}")
    return sorted(lines)
