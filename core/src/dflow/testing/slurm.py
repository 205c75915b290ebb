"""A throwaway Slurm cluster (and an SSH server in front of it) for tests.

``LocalSlurm`` starts a private munged, slurmctld and one slurmd for this machine from a run
directory of its own (configuration, state, logs, munge key and socket), on free ports, and stops
them by PID. Several instances can run side by side and a system Slurm is never touched.
``LocalSshd`` starts an sshd on 127.0.0.1 with a generated host key and one authorized test key,
so "remote" executors can be tested against the same cluster.

Both need root (the daemons switch users) and the Debian packages, which they install with
apt-get when missing. Example::

    with LocalSlurm() as slurm:
        subprocess.run(["sbatch", "--wrap", "true"], env={**os.environ, **slurm.env})
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .ports import free_ports

SLURM_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
SSHD_PACKAGES = ("openssh-server",)


def ensure_apt_packages(binary: str, packages: tuple[str, ...]) -> None:
    """Install ``packages`` with apt-get unless ``binary`` already exists."""
    if Path(binary).exists():
        return
    what = f"{binary} is missing (Debian packages: {' '.join(packages)})"
    if os.geteuid() != 0:
        raise RuntimeError(f"{what}; installing them needs root: run as root or install them first")
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{what} and apt-get is not available: install them by hand")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # apt holds its own lock; ours makes concurrent test processes wait instead of failing on it
    with open(os.path.join(tempfile.gettempdir(), "dflow-apt.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if Path(binary).exists():
            return
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        ):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{what}; `{' '.join(cmd)}` failed:\n{done.stderr[-2000:]}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _guard_pid_file(path: Path) -> None:
    """Refuse to start over a live daemon (munged --force would silently take it over)."""
    if not path.exists():
        return
    try:
        pid = int(path.read_text().split()[0])
    except (ValueError, IndexError):
        return
    if _pid_alive(pid):
        raise RuntimeError(
            f"{path} names process {pid}, which is still running: stop it or use another run_dir"
        )


def reap_orphans(prefix: str) -> None:
    """Stop daemons left by a test process that died without cleaning up (killed pytest).

    A run dir ``<tmp>/<prefix>*`` names its owner in ``owner.pid``; when that process is gone,
    each pid file's process is TERMed if its command line still mentions the run dir (so a
    recycled PID is never hit), then the directory is removed.
    """
    for run_dir in Path(tempfile.gettempdir()).glob(prefix + "*"):
        try:
            owner = int((run_dir / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        for pid_file in run_dir.rglob("*.pid"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(pid_file.read_text().split()[0])
                if pid != owner and str(run_dir) in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
        shutil.rmtree(run_dir, ignore_errors=True)


def _chown(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _stop(procs: list[subprocess.Popen], grace: float = 5.0) -> None:
    """TERM each process by its PID, wait, then KILL what is left."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


class LocalSlurm:
    """One-node Slurm cluster on this machine; a context manager (or ``start()``/``stop()``).

    ``env`` holds ``SLURM_CONF`` for the client commands; ``partition`` is the default partition.
    slurmd binds 127.0.0.1 only; slurmctld cannot be restricted to one address, so it listens
    on a free port on all addresses, and every component connects over 127.0.0.1.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str] | None = None,
        partition: str = "debug",
        start_timeout: float = 60.0,
    ) -> None:
        self._own_dir = run_dir is None
        self.run_dir = Path(run_dir) if run_dir else None
        self.partition = partition
        self.start_timeout = start_timeout
        self.node = socket.gethostname().split(".")[0]
        self._procs: list[subprocess.Popen] = []

    @property
    def conf(self) -> Path:
        assert self.run_dir is not None, "LocalSlurm is not started"
        return self.run_dir / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables the Slurm client commands need to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def __enter__(self) -> LocalSlurm:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Install what is missing, write the configuration, start the daemons, wait for idle."""
        ensure_apt_packages("/usr/sbin/slurmctld", SLURM_PACKAGES)
        ensure_apt_packages("/usr/sbin/munged", SLURM_PACKAGES)
        if self.run_dir is None:
            reap_orphans("dflow-slurm-")
            self.run_dir = Path(tempfile.mkdtemp(prefix="dflow-slurm-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "owner.pid").write_text(str(os.getpid()))
        self.run_dir.chmod(0o755)
        try:
            self._start_munged()
            self._write_conf()
            self._spawn(["/usr/sbin/slurmctld", "-D", "-c", "-f", str(self.conf)], "slurmctld")
            self._spawn(["/usr/sbin/slurmd", "-D", "-f", str(self.conf)], "slurmd")
            self._wait_idle()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, cmd: list[str], name: str, **kwargs: Any) -> None:
        log = open(self.run_dir / f"{name}.out", "ab")  # type: ignore[operator]
        with log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **kwargs,
            )
        proc.dflow_name = name  # type: ignore[attr-defined]
        self._procs.append(proc)

    def _start_munged(self) -> None:
        munge = self.run_dir / "munge"  # type: ignore[operator]
        munge.mkdir(mode=0o700, exist_ok=True)
        _chown(munge, "munge")
        _guard_pid_file(munge / "munged.pid")
        key = munge / "munge.key"
        if not key.exists():
            key.write_bytes(secrets.token_bytes(128))
        key.chmod(0o400)
        _chown(key, "munge")
        # clients must reach the socket: its directory has to be searchable by everyone
        sock_dir = self.run_dir / "munge-socket"  # type: ignore[operator]
        sock_dir.mkdir(mode=0o755, exist_ok=True)
        _chown(sock_dir, "munge")
        self.munge_socket = sock_dir / "munge.socket"
        self._spawn(
            [
                "/usr/sbin/munged",
                "--foreground",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
            "munged",
            user="munge",
            group="munge",
        )
        self._wait(lambda: self.munge_socket.exists(), "munged to create its socket")

    def _write_conf(self) -> None:
        run = self.run_dir
        assert run is not None
        state = run / "state"
        state.mkdir(exist_ok=True)
        (run / "spool").mkdir(exist_ok=True)
        ctld = run / "ctld"
        ctld.mkdir(exist_ok=True)
        for path in (state, ctld):
            _chown(path, "slurm")
        for pid_file in (ctld / "slurmctld.pid", run / "slurmd.pid"):
            _guard_pid_file(pid_file)
        cpus = os.cpu_count() or 1
        ctld_port, slurmd_port = free_ports(2)  # two calls of one could give the same port
        lines = {
            "ClusterName": f"dflow{secrets.token_hex(3)}",
            "SlurmctldHost": f"{self.node}(127.0.0.1)",
            "SlurmctldPort": ctld_port,
            "SlurmdPort": slurmd_port,
            "CommunicationParameters": "NoInAddrAny",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "SlurmUser": "slurm",
            "SlurmdUser": "root",
            "StateSaveLocation": state,
            "SlurmdSpoolDir": run / "spool",
            "SlurmctldPidFile": ctld / "slurmctld.pid",
            "SlurmdPidFile": run / "slurmd.pid",
            "SlurmctldLogFile": ctld / "slurmctld.log",
            "SlurmdLogFile": run / "slurmd.log",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "SchedulerParameters": "batch_sched_delay=0",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            "ReturnToService": 2,
            "MailProg": "/bin/true",
            # short grace periods so cancelled and timed-out jobs end quickly
            "KillWait": 2,
            "MinJobAge": 600,
            "InactiveLimit": 0,
        }
        text = "".join(f"{key}={value}\n" for key, value in lines.items())
        text += (
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} "
            f"RealMemory={self._real_memory()} State=UNKNOWN\n"
            f"PartitionName={self.partition} Nodes={self.node} Default=YES "
            "MaxTime=INFINITE State=UP\n"
        )
        self.conf.write_text(text)
        self.conf.chmod(0o644)

    def _real_memory(self) -> int:
        # RealMemory above what slurmd detects would leave the node invalid
        done = subprocess.run(["/usr/sbin/slurmd", "-C"], capture_output=True, text=True)
        for word in done.stdout.split():
            if word.startswith("RealMemory="):
                return max(1, min(1024, int(word.split("=", 1)[1])))
        return 1024

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if ready():
                return
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{proc.dflow_name} exited with {proc.returncode} while waiting for "  # type: ignore[attr-defined]
                        f"{what}; logs in {self.run_dir}:\n{self._log_tail()}"
                    )
            time.sleep(0.1)
        raise RuntimeError(
            f"timed out after {self.start_timeout}s waiting for {what}; logs in {self.run_dir}:\n"
            f"{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        out = []
        for path in sorted(self.run_dir.rglob("*.log")) + sorted(self.run_dir.glob("*.out")):  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}")
        return "\n".join(out)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command (``sinfo``, ``squeue``, ...) against this cluster."""
        return subprocess.run(
            list(args),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=check,
            timeout=30,
        )

    def job_record(self, job_id: str, state: str | None = None, timeout: float = 60.0) -> str:
        """``scontrol show job`` of ``job_id``; with ``state``, wait until the job reaches it
        (scancel and job ends are asynchronous: a job is COMPLETING for a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.run("scontrol", "-o", "show", "job", job_id).stdout
            if state is None or f"JobState={state}" in record or time.monotonic() > deadline:
                return record
            time.sleep(0.2)

    def _wait_idle(self) -> None:
        def idle() -> bool:
            done = self.run("sinfo", "-h", "-N", "-o", "%T", check=False)
            return done.returncode == 0 and done.stdout.split() == ["idle"]

        self._wait(idle, "the node to become idle")

    def stop(self) -> None:
        """Cancel leftover jobs, stop the daemons by PID and remove a run dir we created."""
        if any(p.dflow_name == "slurmctld" and p.poll() is None for p in self._procs):  # type: ignore[attr-defined]
            # slurmstepd outlives slurmd: cancel jobs first so no job process is left behind
            with contextlib.suppress(Exception):
                ids = self.run("squeue", "-h", "-o", "%i", check=False).stdout.split()
                if ids:
                    self.run("scancel", *ids, check=False)
                    deadline = time.monotonic() + 10
                    while (
                        time.monotonic() < deadline
                        and self.run("squeue", "-h", "-o", "%i", check=False).stdout.split()
                    ):
                        time.sleep(0.2)
        order = {"slurmd": 0, "slurmctld": 1, "munged": 2}
        _stop(sorted(self._procs, key=lambda p: order.get(p.dflow_name, 3)))  # type: ignore[attr-defined]
        self._procs.clear()
        if self._own_dir and self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None


class _Shared:
    """The process's shared LocalSlurm, how many users it has, and the SLURM_CONF it hid."""

    slurm: LocalSlurm | None = None
    users: int = 0
    saved: str | None = None


_shared_lock = threading.Lock()
_shared = _Shared()


@contextlib.contextmanager
def shared_local_slurm() -> Iterator[LocalSlurm]:
    """One LocalSlurm per process, started on first use and stopped when its last user leaves.

    While it runs, ``SLURM_CONF`` is set in ``os.environ`` so that code calling ``sbatch`` (or a
    library that does) reaches it. Made for session-scoped pytest fixtures in several conftests.
    """
    with _shared_lock:
        if _shared.slurm is None:
            started = LocalSlurm()
            started.start()
            _shared.slurm = started
            _shared.saved = os.environ.get("SLURM_CONF")
            os.environ.update(started.env)
        slurm = _shared.slurm
        _shared.users += 1
    try:
        yield slurm
    finally:
        with _shared_lock:
            _shared.users -= 1
            if _shared.users == 0:
                _shared.slurm = None
                if _shared.saved is None:
                    os.environ.pop("SLURM_CONF", None)
                else:
                    os.environ["SLURM_CONF"] = _shared.saved
                slurm.stop()


class LocalSshd:
    """An sshd on 127.0.0.1:<free port> accepting one generated key for ``user`` (root).

    ``env`` is set in every session (``SetEnv``), e.g. a LocalSlurm's ``SLURM_CONF``. The client
    key is ``key_file``; connect with ``ssh -p <port> -i <key_file> root@127.0.0.1``.
    """

    def __init__(self, env: dict[str, str] | None = None, start_timeout: float = 60.0) -> None:
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.port = 0
        self.dir: Path | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def key_file(self) -> str:
        return str(self.dir / "client_key")  # type: ignore[operator]

    def __enter__(self) -> LocalSshd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Generate keys and a configuration, start sshd, wait until it accepts connections."""
        ensure_apt_packages("/usr/sbin/sshd", SSHD_PACKAGES)
        reap_orphans("dflow-sshd-")
        self.dir = Path(tempfile.mkdtemp(prefix="dflow-sshd-"))
        (self.dir / "owner.pid").write_text(str(os.getpid()))
        for name in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / name)],
                check=True,
                capture_output=True,
            )
        shutil.copy(self.dir / "client_key.pub", self.dir / "authorized_keys")
        # sshd refuses to start without its privilege separation directory
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        (self.port,) = free_ports(1)
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.dir / 'host_key'}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "Subsystem sftp internal-sftp",
            "LogLevel ERROR",
        ]
        # bash started by sshd sources ~/.bashrc only at SHLVL < 2: keep a developer's
        # interactive setup (pyenv rehash, conda, ...) out of the test sessions
        env = {"SHLVL": "1", **self.env}
        lines.append("SetEnv " + " ".join(f"{k}={v}" for k, v in env.items()))
        (self.dir / "sshd_config").write_text("\n".join(lines) + "\n")
        log = open(self.dir / "sshd.log", "wb")
        with log:
            self._proc = subprocess.Popen(
                ["/usr/sbin/sshd", "-D", "-e", "-f", str(self.dir / "sshd_config")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                text = (self.dir / "sshd.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"sshd exited with {self._proc.returncode}:\n{text[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.5),
            ):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not accept connections within {self.start_timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop sshd by its PID and remove the keys."""
        if self._proc is not None:
            _stop([self._proc])
            self._proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
