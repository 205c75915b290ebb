"""What live progress costs: a 10,000-slice fan-out with and without it.

Runs ``workloads/fanout.py N`` (function-OP slices, then a reduce) on the local engine in a
fresh directory, three ways, alternating rounds so machine noise spreads evenly:

* ``quiet``: ``DFLOW_QUIET=1``, no progress at all (the baseline);
* ``plain``: stderr is a pipe: a plain progress line group every second;
* ``rich``: stderr is a pseudo-terminal: rich's Live view, redrawn four times a second.

The time is the workload's own submit..finish wall time; the ratio is against ``quiet``
measured in the same run. Target: under 5 % overhead.

    .venv/bin/python benchmarks/progress_bench.py            # N = 10,000, 2 rounds
    .venv/bin/python benchmarks/progress_bench.py --n 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

WORKLOAD = Path(__file__).resolve().parent / "workloads" / "fanout.py"
MODES = ("quiet", "plain", "rich")


def run_once(mode: str, n: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    env.update(DFLOW_MODE="debug", DFLOW_PROGRESS_INTERVAL="1")
    if mode == "quiet":
        env["DFLOW_QUIET"] = "1"
    with tempfile.TemporaryDirectory(prefix="dflow-progress-bench-") as cwd:
        drained: list[bytes] = []
        if mode == "rich":
            master, slave = pty.openpty()
            reader = threading.Thread(target=_drain, args=(master, drained), daemon=True)
            reader.start()
            proc = subprocess.run(
                [sys.executable, str(WORKLOAD), str(n)],
                cwd=cwd,
                env={**env, "COLUMNS": "120", "TERM": "xterm-256color"},
                stdout=subprocess.PIPE,
                stderr=slave,
                check=False,
            )
            os.close(slave)
            reader.join(timeout=5)
            os.close(master)
        else:
            proc = subprocess.run(
                [sys.executable, str(WORKLOAD), str(n)],
                cwd=cwd,
                env=env,
                capture_output=True,
                check=False,
            )
        out = proc.stdout.decode()
    result = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not result:
        raise SystemExit(f"{mode}: the workload failed (exit {proc.returncode}):\n{out[-2000:]}")
    report = json.loads(result[-1][len("RESULT ") :])
    if not report["ok"]:
        raise SystemExit(f"{mode}: wrong result: {report}")
    return float(report["seconds"])


def _drain(fd: int, sink: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        sink.append(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="slices (default 10,000)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        for mode in MODES if r % 2 == 0 else reversed(MODES):
            seconds = run_once(mode, args.n)
            times[mode].append(seconds)
            print(f"round {r + 1} {mode:<5} {seconds:8.2f} s", flush=True)
    base = statistics.median(times["quiet"])
    print(f"\n{args.n:,}-slice fan-out, median of {args.rounds} rounds (local engine):")
    for mode in MODES:
        t = statistics.median(times[mode])
        print(f"  {mode:<5} {t:8.2f} s   x{t / base:.3f} of quiet ({(t / base - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
