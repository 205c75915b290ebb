"""The dflow command as a user runs it (a subprocess) on local runs: list, get, logs, wait,
watch, submit, --version; and what a script's submit() prints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    from dflow import InputParameter, ShellOPTemplate, Step, Workflow, argo_range

    gate = sys.argv[5] if len(sys.argv) > 5 else "/nonexistent"
    # items wait until the file ``hold`` exists (a watcher sees them running, however slow)
    hold = sys.argv[6] if len(sys.argv) > 6 else ""
    wait = f"while [ ! -e {hold} ]; do sleep 0.05; done; " if hold else ""
    hello = ShellOPTemplate(
        name="hello", image="alpine", script=f"echo hello; echo run >> {gate}.runs"
    )
    item = ShellOPTemplate(
        name="item",
        image="alpine",
        script=wait + "sleep {{inputs.parameters.nap}}; echo item {{inputs.parameters.i}}; "
        f"test {{{{inputs.parameters.i}}}} -ne 1 || test -e {gate}",
    )
    item.inputs.parameters = {"i": InputParameter(), "nap": InputParameter()}
    wf = Workflow(name="demo", id=None if sys.argv[1] == "-" else sys.argv[1])
    wf.add(Step("hello", hello))
    wf.add(
        Step(
            "item",
            item,
            parameters={"i": "{{item}}", "nap": sys.argv[2]},
            with_param=argo_range(int(sys.argv[3])),
        )
    )
    if sys.argv[4] == "yaml":
        print(wf.to_yaml())
    else:
        wf.submit(wait=sys.argv[4] != "detach")
        print("status:", wf.query_status())
        print("id:", wf.id)
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    env.update({"DFLOW_MODE": "local", **extra})
    return env


def dflow(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dflow", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def script(
    cwd: Path, wf_id: str, nap: str, n: int, how: str, *gate: str
) -> subprocess.CompletedProcess:
    (cwd / "wf.py").write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, "wf.py", wf_id, nap, str(n), how, *gate],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def said(result: subprocess.CompletedProcess) -> list[str]:
    """What the script printed itself (its stdout also has its steps' output, echoed)."""
    return [line for line in result.stdout.splitlines() if line.startswith(("status:", "id:"))]


@pytest.fixture(scope="module")
def failed(tmp_path_factory) -> Path:
    """A folder holding one finished local run, ``demo-1``: item(1:1) of 3 failed."""
    cwd = tmp_path_factory.mktemp("runs")
    result = script(cwd, "demo-1", "0", 3, "run")
    assert said(result)[0] == "status: Failed", result.stderr
    return cwd


def test_a_failing_script_says_where_and_why(failed: Path) -> None:
    # the script ran again: already a journal; run a fresh id to see the first run's output
    result = script(failed, "demo-2", "0", 3, "run")
    err = result.stderr
    assert result.returncode == 0  # pydflow's contract: submit() returns
    assert f"dflow: workflow demo-2 running on the local engine: {failed / 'demo-2'}" in err
    assert "dflow: workflow demo-2 Failed: " in err
    assert "  step item(1:1) (demo-2-" in err and ") Failed: " in err
    assert "    | item 1" in err
    assert "    more: dflow logs demo-2 demo-2-" in err
    assert "Traceback" not in err


def test_list_in_an_empty_folder(tmp_path: Path) -> None:
    result = dflow("list", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "No workflows yet.\n")


def test_list_get_logs_wait(failed: Path) -> None:
    out = dflow("list", cwd=failed).stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "CREATED", "DURATION"]
    row = [line.split() for line in out if line.startswith("demo-1 ")][0]
    assert row[1] == "Failed" and row[2].startswith("20") and row[4].endswith("s")
    assert "demo-1" not in dflow("list", "--status", "Running", cwd=failed).stdout
    assert "demo-1" in dflow("list", "-s", "failed", "--since", "1h", cwd=failed).stdout
    assert "demo-1" not in dflow("list", "--since", "2999-01-01", cwd=failed).stdout
    bad = dflow("list", "--since", "yesterday", cwd=failed)
    assert bad.returncode == 2 and "give a duration (30m, 2h, 7d)" in bad.stderr

    out = dflow("get", "demo-1", cwd=failed).stdout
    assert "Name:     demo-1" in out and "Status:   Failed" in out
    assert "Created:  20" in out and "Duration: " in out
    rows = [line.split() for line in out.splitlines()]
    assert ["item", "(3)", "2", "Succeeded,", "1", "Failed"] in rows
    failed_row = [r for r in rows if r and r[0] == "item(1:1)"][0]
    assert failed_row[2] == "Failed" and "exit" in " ".join(failed_row[3:]).lower()

    logs = dflow("logs", "demo-1", "item(1:1)", cwd=failed)
    assert logs.returncode == 0 and logs.stdout.strip() == "item 1"
    every = dflow("logs", "demo-1", cwd=failed).stdout
    assert "==> item(2:2) (demo-1-" in every and "item 2" in every and "hello" in every
    missing = dflow("logs", "demo-1", "nope", cwd=failed)
    assert missing.returncode == 1
    assert (
        "workflow 'demo-1' has no step 'nope'" in missing.stderr and "item(0:0)" in missing.stderr
    )

    waited = dflow("wait", "demo-1", cwd=failed)
    assert (waited.returncode, waited.stdout) == (1, "workflow demo-1: Failed\n")
    assert "dflow: workflow demo-1 Failed" in waited.stderr and "    | item 1" in waited.stderr


def test_watch_a_run_from_another_process(tmp_path: Path) -> None:
    hold = tmp_path / "hold"  # the items run until the watch has shown them running
    started = script(tmp_path, "slow-1", "0", 3, "detach", "/nonexistent", str(hold))
    assert said(started)[0] == "status: Running", started.stderr
    watch = subprocess.Popen(
        [sys.executable, "-m", "dflow", "watch", "slow-1", "-i", "0.2"],
        cwd=tmp_path,
        env=_env(DFLOW_PROGRESS_INTERVAL="1"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stderr is not None
        seen = []
        for line in watch.stderr:
            seen.append(line)
            if "[dflow] item (3): " in line and "running" in line:
                break
        hold.touch()
        _, rest = watch.communicate(timeout=300)
    finally:
        hold.touch()
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    err = "".join(seen) + rest
    assert watch.returncode == 1, err  # it fails: item 1
    lines = err.splitlines()
    assert any(line.startswith("[dflow] slow-1 Running ") for line in lines), err
    assert any("[dflow] item (3): " in line and "running" in line for line in lines), err
    assert "dflow: workflow slow-1 Failed" in err


def test_submit_yaml_exits_non_zero_on_failure(tmp_path: Path) -> None:
    made = script(tmp_path, "yaml-1", "0", 2, "yaml")
    (tmp_path / "wf.yaml").write_text(made.stdout)
    result = dflow("submit", "wf.yaml", "-n", "yaml-1", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    # the steps' output, echoed as they run, then the command's own line
    assert result.stdout.endswith("\nWorkflow yaml-1 submitted: Failed\n"), result.stdout
    assert result.stdout.splitlines()[0] == "hello"
    assert "dflow: workflow yaml-1 Failed" in result.stderr


def test_version_names_core_and_plugins(tmp_path: Path) -> None:
    out = dflow("--version", cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith("dflow-core ")
    assert any(line.startswith("dflow-engine-local ") for line in out)


def test_retry_and_resubmit_a_local_run_from_the_command_line(tmp_path: Path) -> None:
    gate = tmp_path / "open"
    first = script(tmp_path, "-", "0", 3, "run", str(gate))
    assert said(first)[0] == "status: Failed", first.stderr
    wf_id = said(first)[1].removeprefix("id: ")
    gate.write_text("")  # what made item 1 fail is fixed

    retried = dflow("retry", wf_id, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert f"dflow: retry of {wf_id}: running {sys.executable} {tmp_path / 'wf.py'} -" in (
        retried.stderr
    )
    out = dflow("get", wf_id, cwd=tmp_path).stdout
    assert "Status:   Succeeded" in out
    assert (tmp_path / "open.runs").read_text() == "run\n"  # hello succeeded: not run again

    again = dflow("resubmit", wf_id, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    names = [line.split()[0] for line in dflow("list", cwd=tmp_path).stdout.splitlines()[1:]]
    assert len(names) == 2 and wf_id in names  # a new run, next to the first
    assert (tmp_path / "open.runs").read_text() == "run\nrun\n"


def test_retry_without_a_script_says_what_to_do(tmp_path: Path) -> None:
    code = SCRIPT.replace('sys.argv[1] == "-"', "True").replace("sys.argv[2]", "'0'")
    code = code.replace("int(sys.argv[3])", "2").replace("sys.argv[4]", "'run'")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    wf_id = said(done)[1].removeprefix("id: ")
    result = dflow("retry", wf_id, cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot retry workflow '{wf_id}' from here: it was not submitted by a script" in (
        result.stderr
    )


def test_logs_follow_prints_until_the_run_ends(tmp_path: Path) -> None:
    started = script(tmp_path, "slow-2", "1", 3, "detach")
    assert said(started)[0] == "status: Running", started.stderr
    followed = dflow("logs", "slow-2", "-f", "-i", "0.2", cwd=tmp_path)
    assert followed.returncode == 0, followed.stderr
    out = followed.stdout
    for k in range(3):  # each step's text once, after a header naming it
        assert out.count(f"item {k}\n") == 1
        header = out.rindex(f"==> item({k}:{k}) (slow-2-", 0, out.index(f"item {k}\n"))
        assert "<==" not in out[out.index("<==", header) + 3 : out.index(f"item {k}\n")]
