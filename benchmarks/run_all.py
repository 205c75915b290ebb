"""Run every benchmark script in benchmarks/ with quick settings and print their tables.

    .venv/bin/python benchmarks/run_all.py [--timeout 900] [--only name,name] [--list]

Each script runs as its own subprocess with this python, from the repository root, and its
output is shown as it comes. A script that takes ``--quick`` gets it; the others get the small
arguments listed in ``QUICK`` below (none if not listed). A script that needs a server or a
tool that is not there is expected to say so and exit; its exit code is shown in the summary.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# quick arguments of scripts that have no --quick option
QUICK: dict[str, list[str]] = {
    "runner_overhead.py": ["1000"],
}


def scripts() -> list[Path]:
    """The benchmark scripts: every ``*.py`` here except this driver and private modules."""
    return sorted(
        p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_")
    )


def quick_args(script: Path) -> list[str]:
    if '"--quick"' in script.read_text(errors="replace"):
        return ["--quick"]
    return QUICK.get(script.name, [])


def run(script: Path, timeout: float) -> tuple[str, float]:
    """Run one script, streaming its output; return (status, seconds)."""
    cmd = [sys.executable, str(script), *quick_args(script)]
    print(f"\n=== {script.name} {' '.join(cmd[2:])}".rstrip(), flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"did not finish in {timeout:g} s", time.perf_counter() - start
    seconds = time.perf_counter() - start
    return ("ok" if proc.returncode == 0 else f"exit code {proc.returncode}"), seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--timeout", type=float, default=900, help="seconds per script (900)")
    p.add_argument("--only", help="comma list of script names (with or without .py)")
    p.add_argument("--list", action="store_true", help="list the scripts and their arguments")
    a = p.parse_args(argv)
    chosen = scripts()
    if a.only:
        wanted = {n if n.endswith(".py") else n + ".py" for n in a.only.split(",")}
        unknown = wanted - {s.name for s in chosen}
        if unknown:
            names = ", ".join(s.name for s in chosen)
            p.error(f"--only: no benchmark named {', '.join(sorted(unknown))}; have: {names}")
        chosen = [s for s in chosen if s.name in wanted]
    if a.list:
        for s in chosen:
            print(s.name, *quick_args(s))
        return 0
    results = [(s.name, *run(s, a.timeout)) for s in chosen]
    print("\n=== summary")
    width = max(len(n) for n, _, _ in results) if results else 0
    for name, status, seconds in results:
        print(f"  {name:<{width}}  {seconds:7.1f} s  {status}")
    return 0 if all(status == "ok" for _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
