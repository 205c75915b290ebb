"""The main container of an emulated pod: its filesystem, then Argo's emissary in it.

Run by :mod:`conformance.podrun` as ``python -I emissary.py SPEC.json`` with exactly the
container's environment (so the kernel refuses an oversized variable at this exec, as it
refuses the container's first exec on a real node). As root it:

1. enters private mount and PID namespaces (its child is the container's PID 1: whatever the
   command leaves running dies with it) and mounts an overlay whose lower layer is the
   machine's root, so everything the container writes stays in the pod's upper directory (a
   container's writable layer); ``/dev`` and ``/sys`` are bound in, ``/proc`` is the pod's own;
2. binds the pod's volumes: the image at ``/usr/local``, the ``/tmp`` sandbox,
   ``/var/run/argo``, ``/argo/staging`` and each input artifact at its path (volumeMounts of
   the ``input-artifacts`` volume, controller/workflowpod.go v3.7.18), then chroots into it;
3. does what ``argoexec emissary`` does (cmd/argoexec/commands/emissary.go, v3.7.18): looks the
   command up in ``PATH`` (not found -> exit 64 and a termination message), starts it in its own
   process group (osspecific.StartCommand: Setpgid), forwards signals to it, writes
   ``/var/run/argo/ctr/main/{stdout,combined,exitcode}``, and after it exits copies every output
   parameter file to ``/var/run/argo/outputs/parameters/<path>`` and tars every output
   artifact to ``/var/run/argo/outputs/artifacts/<path>.tgz`` (saveParameter/saveArtifact),
   whatever the exit code. A child killed by a signal gives 137.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # -I leaves the tests dir off

from conformance.artifacts import ArtifactError, tar_gz
from conformance.common import MAIN, VAR_RUN_ARGO

_CLONE_NEWNS, _CLONE_NEWPID = 0x00020000, 0x20000000
_PR_SET_PDEATHSIG = 1
_MS_RDONLY, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)
_CTR = f"{VAR_RUN_ARGO}/ctr/{MAIN}"


def _enc(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None):
    enc = _enc
    if _libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def in_root(root: str, path: str) -> str:
    """``path`` resolved as if ``root`` were ``/`` (symlinks included: ``/var/run`` links to
    ``/run``, which must not lead out to the machine's own ``/run``)."""
    parts = [p for p in path.split("/") if p and p != "."]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        here = os.path.join(root, *done, part)
        if os.path.islink(here):
            hops += 1
            if hops > 40:
                raise OSError(f"too many levels of symbolic links in {path}")
            link = os.readlink(here)
            if link.startswith("/"):
                done = []
            parts = [p for p in link.split("/") if p and p != "."] + parts
            continue
        done.append(part)
    return os.path.join(root, *done)


def _mountpoint(merged: str, target: str, is_dir: bool) -> str:
    where = in_root(merged, target)
    if is_dir:
        os.makedirs(where, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(where), exist_ok=True)
        if not os.path.exists(where):
            open(where, "a").close()
    return where


def enter(spec: dict) -> None:
    """Steps 1-2 (as PID 1 of the pod's PID namespace): the container's root filesystem, its
    own /proc, then chroot into it."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing propagates back to the machine
    root = spec["root"]
    merged = root["merged"]
    _mount(
        "overlay",
        merged,
        "overlay",
        0,
        f"lowerdir=/,upperdir={root['upper']},workdir={root['work']}",
    )
    for system in ("dev", "sys"):
        _mount(f"/{system}", _mountpoint(merged, system, True), None, _MS_BIND | _MS_REC)
    _mount("proc", _mountpoint(merged, "proc", True), "proc", 0)  # the pod's processes only
    # parents before children: /tmp before an input artifact under /tmp
    for src, target in sorted(spec["mounts"], key=lambda m: m[1].count("/")):
        _mount(src, _mountpoint(merged, target, os.path.isdir(src)), None, _MS_BIND)
    os.chroot(merged)
    cwd = spec["cwd"] or "/"
    os.makedirs(cwd, exist_ok=True)  # the container runtime creates a missing workingDir
    os.chdir(cwd)


def _terminate(message: str) -> None:
    # the stand-in for /dev/termination-log (util.WriteTerminateMessage)
    Path(_CTR, "termination-log").write_text(message)


def look_path(name: str) -> str | None:
    """exec.LookPath: a name with a slash is used as is, else searched in $PATH."""
    if "/" in name:
        return name if os.access(name, os.X_OK) and os.path.isfile(name) else None
    return shutil.which(name, path=os.environ.get("PATH", ""))


def run(spec: dict) -> int:
    """Step 3: run the command, then save outputs; returns the container's exit code."""
    os.makedirs(_CTR, mode=0o777, exist_ok=True)
    name, args = spec["command"][0], spec["command"][1:]
    exe = look_path(name)
    if exe is None:
        _terminate(
            f'failed to find name in PATH: exec: "{name}": executable file not found in $PATH'
        )
        return 64
    # unbuffered: the log survives the container being killed, as the runtime's log does
    with (
        open(f"{_CTR}/stdout", "wb", buffering=0) as stdout,
        open(f"{_CTR}/combined", "wb", buffering=0) as combined,
    ):
        child = subprocess.Popen(
            [exe, *args],
            executable=exe,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
        )

        def forward(signum, _frame):
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, forward)
        lock = threading.Lock()
        pumps = [
            threading.Thread(target=_pump, args=(pipe, files, lock), daemon=True)
            for pipe, files in ((child.stdout, (stdout, combined)), (child.stderr, (combined,)))
        ]
        for pump in pumps:
            pump.start()
        # osspecific.Wait waits for the process, not for its pipes: what it started in the
        # background may hold them open; it dies with the container
        code = child.wait()
        until = time.monotonic() + 0.2  # what is already in the pipes
        for pump in pumps:
            pump.join(max(0.0, until - time.monotonic()))
        with lock:
            _closed.append(True)
    exit_code = code if code >= 0 else 137  # a signal: ExitCode() is -1 -> 137
    Path(_CTR, "exitcode").write_text(str(exit_code))
    try:
        save_outputs(spec)
    except (OSError, ArtifactError) as exc:
        _terminate(str(exc))
        return 64
    return exit_code


_closed: list[bool] = []


def _pump(pipe, files, lock: threading.Lock) -> None:
    while True:
        data = os.read(pipe.fileno(), 65536)
        if not data:
            return
        with lock:
            if _closed:
                return
            for f in files:
                f.write(data)


def save_outputs(spec: dict) -> None:
    """saveParameter/saveArtifact: copy what exists; a missing path is left to the wait
    container (it may be optional or have a default)."""
    for path in spec["parameters"]:
        if os.path.isfile(path) or os.path.isdir(path):
            dst = f"{VAR_RUN_ARGO}/outputs/parameters/{path}"  # "parameters//tmp/x", as Argo
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(path):
                raise OSError(f"failed to copy {path} to {dst}: read {path}: is a directory")
            shutil.copyfile(path, dst)
    for path in spec["artifacts"]:
        if os.path.exists(path):
            dst = Path(f"{VAR_RUN_ARGO}/outputs/artifacts/{path.strip('/')}.tgz")
            tar_gz(Path(path), dst)


def main() -> int:
    """Unshare the mount and PID namespaces and fork the container's PID 1: when it exits,
    the kernel kills whatever the command left behind, as when a container stops. This
    process stays outside to pass signals in; if it is killed, PID 1 dies with it."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    if _libc.unshare(_CLONE_NEWNS | _CLONE_NEWPID) != 0:
        print(
            "conformance harness: unshare(mount, pid) failed: the harness needs root "
            f"({os.strerror(ctypes.get_errno())})",
            file=sys.stderr,
        )
        return 125
    pid = os.fork()
    if pid == 0:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        try:
            enter(spec)
        except OSError as exc:
            print(f"conformance harness: cannot set up the container: {exc}", file=sys.stderr)
            os._exit(125)
        os._exit(run(spec))

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 137


if __name__ == "__main__":
    sys.exit(main())
