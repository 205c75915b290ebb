"""What live progress costs on a 10,000-slice fan-out.

Two measurements, each against a baseline measured in the same run:

* ``costs`` (default, seconds): the 30,000 step events of a 10,000-slice fan-out (Pending,
  Running, Succeeded per slice, as the local engine emits them) delivered through the plugin
  manager with and without a progress session, CPU time per event; and the CPU time of one
  frame of the rich view and of the plain lines at that size. Overhead on a run = (events x
  per-event cost + frames per second x frame cost x run time) / run time: independent of how
  loaded the machine is.
* ``--full``: ``workloads/fanout.py N`` run end to end on the local engine three ways,
  alternating rounds: ``quiet`` (``DFLOW_QUIET=1``, the baseline), ``plain`` (stderr a pipe,
  lines every second), ``rich`` (stderr a pseudo-terminal: rich Live, 4 frames a second).

    .venv/bin/python benchmarks/progress_bench.py                 # costs at 10,000 slices
    .venv/bin/python benchmarks/progress_bench.py --full --n 10000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import pty
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _proc import workload_result

WORKLOAD = Path(__file__).resolve().parent / "workloads" / "fanout.py"
MODES = ("quiet", "plain", "rich")


def run_once(mode: str, n: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    env.update(DFLOW_MODE="debug", DFLOW_PROGRESS_INTERVAL="1")
    if mode == "quiet":
        env["DFLOW_QUIET"] = "1"
    with tempfile.TemporaryDirectory(prefix="dflow-progress-bench-") as cwd:
        drained: list[bytes] = []
        what = f"{mode}: the workload"
        if mode == "rich":
            master, slave = pty.openpty()
            reader = threading.Thread(target=_drain, args=(master, drained), daemon=True)
            reader.start()
            tty = {**env, "COLUMNS": "120", "TERM": "xterm-256color"}
            report = workload_result(WORKLOAD, n, what, cwd=cwd, env=tty, stderr=slave)
            os.close(slave)
            reader.join(timeout=5)
            os.close(master)
        else:
            report = workload_result(WORKLOAD, n, what, cwd=cwd, env=env)
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


def costs(n: int) -> dict[str, float]:
    """CPU seconds: per event without/with a session, per rich frame, per plain report."""
    import io

    from dflow.config import config
    from dflow.plugins.manager import get_plugin_manager
    from dflow.plugins.records import StepEvent
    from dflow.progress import LiveView, ProgressModel, _Renderable
    from dflow.reporting import Session
    from rich.console import Console

    pm = get_plugin_manager()
    pm.load()
    events = [StepEvent("wf", "wf", "wf", "Running", type="Steps")]
    events.append(StepEvent("wf", "g", "square", "Running", None, "StepGroup", "", "wf", f"0/{n}"))
    for phase in ("Pending", "Running", "Succeeded"):
        events += [
            StepEvent("wf", f"i{k}", f"square({k}:{k})", phase, None, "Pod", "", "g")
            for k in range(n)
        ]

    def deliver() -> float:
        start = time.process_time()
        for event in events:
            pm.emit_step_event(event)
        return (time.process_time() - start) / len(events)

    out = {"bare": deliver()}
    config["quiet"] = True  # the session without a view: what observing alone costs
    with Session(engine=None, workflow_id="wf", raise_on_failure=False) as session:  # type: ignore[arg-type]
        session.announced = True
        session.view = LiveView(ProgressModel("wf"), None)
        out["observed"] = deliver()
    config["quiet"] = False
    model = session.view.model
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    start = time.process_time()
    for _ in range(20):
        console.print(_Renderable(model))
    out["frame"] = (time.process_time() - start) / 20
    view = LiveView(model, "plain", stream=io.StringIO())
    start = time.process_time()
    for _ in range(20):
        view.write_plain()
    out["plain"] = (time.process_time() - start) / 20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="slices (default 10,000)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="run the workload end to end")
    args = parser.parse_args()
    if not args.full:
        c = costs(args.n)
        per_event = c["observed"] - c["bare"]
        print(f"{args.n:,}-slice fan-out: {3 * args.n:,} step events")
        print(f"  delivery without progress  {c['bare'] * 1e6:8.2f} us/event")
        print(f"  delivery with progress     {c['observed'] * 1e6:8.2f} us/event")
        print(f"  rich frame (4/s)           {c['frame'] * 1e3:8.2f} ms")
        print(f"  plain report (1/10 s)      {c['plain'] * 1e3:8.2f} ms")
        print(f"  all events: +{per_event * 3 * args.n:.3f} s CPU over the run")
        print(f"  rich view: {4 * c['frame'] * 100:.2f} % of one core while the run lasts")
        return
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
