"""Headless Chromium (Debian's ``chromium`` package) for tests of pages dflow writes.

:func:`chromium` finds the browser, installing it with apt-get the first time;
:func:`load` opens a local page, returning its DOM after scripts ran and every console message
(errors included: an uncaught exception is logged as ``Uncaught ...``); :func:`screenshot`
keeps a PNG. :func:`mermaid_js` fetches mermaid from the npm registry (``npm pack``, cached
under a folder the caller names) so tests can run mermaid's own parser on our text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import attrs

_CONSOLE_RE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)\] \"(.*)\", source: (\S*)")
TIMEOUT = 180


class BrowserUnavailable(RuntimeError):
    """Chromium is not installed and apt-get could not install it (no registry here)."""


def _apt_install(package: str) -> str:
    """``apt-get install -y package`` (after an ``apt-get update`` if the first try fails)."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    cmd = ["apt-get", "install", "-y", "-q", package]
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    return "" if done.returncode == 0 else (done.stderr or done.stdout)[-800:]


def debian_tool(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` when it is missing."""
    found = shutil.which(binary)
    if found is None:
        problem = _apt_install(package)
        found = shutil.which(binary)
        if found is None:
            raise BrowserUnavailable(
                f"'{binary}' is missing and 'apt-get install -y {package}' failed: {problem}"
            )
    return found


def chromium() -> str:
    """The chromium binary (installed from Debian's packages when missing)."""
    return debian_tool("chromium", "chromium")


def _base_args(binary: str) -> list[str]:
    # --no-sandbox: tests run as root, where chromium refuses its sandbox
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]


@attrs.frozen
class Page:
    """What a page showed: its DOM after scripts ran, and its console messages."""

    dom: str
    console: tuple[str, ...]


def load(path: str | Path, wait_ms: int = 3000) -> Page:
    """Open a local file, let its scripts run (virtual time), return DOM and console."""
    url = Path(path).resolve().as_uri()
    args = [
        *_base_args(chromium()),
        "--enable-logging=stderr",
        "--v=0",
        f"--virtual-time-budget={wait_ms}",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {url} ({done.returncode}): {done.stderr[-2000:]}")
    console = tuple(m.group(1) for m in _CONSOLE_RE.finditer(done.stderr))
    return Page(done.stdout, console)


def screenshot(path: str | Path, png: str | Path, size: tuple[int, int] = (1200, 1500)) -> Path:
    """A PNG of a local page at ``size`` (width, height)."""
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    args = [
        *_base_args(chromium()),
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={png.resolve()}",
        Path(path).resolve().as_uri(),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium screenshot of {path} failed: {done.stderr[-2000:]}")
    return png


def mermaid_js(cache: str | Path, version: str = "11") -> Path:
    """``mermaid.min.js`` from the npm registry (``npm pack mermaid@version``), cached."""
    cache = Path(cache)
    target = cache / f"mermaid-{version}" / "mermaid.min.js"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise BrowserUnavailable("npm is missing: apt-get install -y npm")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "pack", f"mermaid@{version}", "--silent", "--pack-destination", str(cache)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise BrowserUnavailable(f"npm pack mermaid@{version} failed: {done.stderr[-800:]}")
    tgz = cache / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tgz) as tar:
        member = tar.extractfile("package/dist/mermaid.min.js")
        assert member is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(member.read())
    tgz.unlink()
    return target
