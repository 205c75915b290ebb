"""The user guide (docs/) and its examples: every example runs and prints what its page shows.

The guide's pages link the examples they explain and show their output in blocks like

    ```console
    $ python examples/reuse.py
    second: sum = 105
    ```

``test_every_guide_example_runs`` runs every linked example as its page does, ``python
examples/<name>.py`` on the local engine (one test, listing the failures): it must exit 0,
every workflow it ran must end ``Succeeded``, an example that needs a cluster (and so only
renders) must return manifests that pass Argo's schema, and every line of its output blocks
must be in what it printed, with workflow ids shown as ``<id>``. The other tests check that
every example is linked, every section of the seed's guide has a page, every link resolves,
the plugin example installs and works as a real distribution, and ``make demo`` installs only
core and the local engine.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dflow import Workflow
from dflow.config import config

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
EXAMPLES = REPO / "examples"
SEED = REPO.parent / "shared" / "seed" / "dflow-README.md"
#: pages the guide links that other branches of this push write (architecture, secrets, cache)
PAGES_OF_OTHER_BRANCHES = {"architecture.md", "secrets.md", "cache.md"}

_CONSOLE = re.compile(r"```console\n\$ python (examples/[\w/]+)\.py\n(.*?)```", re.S)
_EXAMPLE_LINK = re.compile(r"\]\((?:\.\./)*examples/([\w/]+)\.py\)")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def linked_examples() -> list[str]:
    """Examples the guide links (``plugin/use_nice`` included), in first-seen order."""
    found: dict[str, None] = {}
    for page in pages():
        found.update(dict.fromkeys(_EXAMPLE_LINK.findall(page.read_text())))
    return list(found)


def documented_output() -> dict[str, list[str]]:
    """Example -> the output lines its pages show."""
    out: dict[str, list[str]] = {}
    for page in [*pages(), EXAMPLES / "plugin" / "README.md"]:
        for example, block in _CONSOLE.findall(page.read_text()):
            name = example.removeprefix("examples/")
            out.setdefault(name, []).extend(line for line in block.splitlines() if line.strip())
    return out


def _missing_lines(shown: list[str], printed: str, ids: list[str]) -> list[str]:
    for wf_id in ids:
        printed = printed.replace(wf_id, "<id>")
    lines = {line.rstrip() for line in printed.splitlines()}
    return [line for line in shown if line.rstrip() not in lines]


def _argo_schema_problems(manifest: dict) -> str | None:
    sys.path.insert(0, str(REPO / "plugins" / "engine_argo" / "tests"))
    try:
        from argo_schema import assert_valid

        assert_valid(manifest)
    except AssertionError as err:
        return str(err)[:500]
    finally:
        sys.path.pop(0)
    return None


def check_example(load, name: str, workdir: Path, shown: list[str]) -> list[str]:
    """Run ``python examples/<name>.py`` in ``workdir`` on the local engine, as its page
    shows; return what is wrong."""
    workdir.mkdir(parents=True)
    env = {**os.environ, "DFLOW_MODE": "debug"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        return [f"{name}: exited {proc.returncode}\n{proc.stdout}{proc.stderr[-3000:]}"]
    problems = []
    runs = sorted(p.parent.name for p in workdir.glob("*/journal.db"))
    saved = dict(config)
    try:
        config.update(mode="debug", debug_workdir=str(workdir))
        for wf_id in runs:
            phase = Workflow(id=wf_id).query_status()
            if phase != "Succeeded":
                problems.append(f"{name}: workflow {wf_id} ended {phase}")
    finally:
        config.clear()
        config.update(saved)
    if not runs:  # an example that needs a cluster: it renders; its manifests must be valid
        problems += _rendered_problems(load, name, workdir)
    if not shown:
        problems.append(f"{name}: no page shows its output (a ```console block)")
    missing = _missing_lines(shown, proc.stdout, runs)
    if missing:
        problems.append(f"{name}: printed\n{proc.stdout}\nwithout the documented lines {missing}")
    return problems


def _rendered_problems(load, name: str, workdir: Path) -> list[str]:
    saved, cwd = dict(config), os.getcwd()
    os.chdir(workdir)
    try:
        config["mode"] = "debug"
        with contextlib.redirect_stdout(io.StringIO()):
            result = load(name).main()
    finally:
        os.chdir(cwd)
        config.clear()
        config.update(saved)
    manifests = [
        m for m in (result if isinstance(result, list) else [result]) if isinstance(m, dict)
    ]
    if not manifests:
        return [f"{name}: ran no workflow and rendered none (main() returned {result!r})"]
    return [
        f"{name}: rendered manifest is not valid for Argo: {p}"
        for p in map(_argo_schema_problems, manifests)
        if p
    ]


@pytest.mark.timeout(900)
def test_every_guide_example_runs(tmp_path, example):
    shown = documented_output()
    examples = [n for n in linked_examples() if "/" not in n]  # plugin/: its own test below
    failures = []
    for name in examples:
        failures += check_example(example, name, tmp_path / name, shown.get(name, []))
    assert failures == [], (
        f"{len(failures)} problems in {len(examples)} examples of the guide:\n\n"
        + "\n\n".join(failures)
    )


def test_every_example_is_in_the_guide():
    linked = set(linked_examples())
    on_disk = {p.stem for p in EXAMPLES.glob("*.py")} | {"plugin/use_nice"}
    assert sorted(on_disk - linked) == [], "examples no guide page links"
    assert sorted(linked - on_disk) == [], "guide links to examples that do not exist"


def test_every_seed_section_has_a_page():
    """Each section of the seed's user guide (§3.x.y) is a row of docs/index.md whose page
    exists and links an example."""
    sections = re.findall(
        r"^####\s+(3\.\d+\.\d+)\.\s+<a name='\w+'></a>\s*(.+)$", SEED.read_text(), re.M
    )
    assert len(sections) == 24
    index = (DOCS / "index.md").read_text()
    problems = []
    for number, title in sections:
        row = re.search(rf"^\| {re.escape(number)} \| (.+?) \| \[.+?\]\((.+?)\) \|", index, re.M)
        if row is None:
            problems.append(f"§{number} {title}: no row in docs/index.md")
            continue
        page = DOCS / row.group(2)
        if not page.exists():
            problems.append(f"§{number}: {row.group(2)} does not exist")
        elif not _EXAMPLE_LINK.search(page.read_text()):
            problems.append(f"§{number}: {row.group(2)} links no example")
    assert problems == [], problems


def test_links_resolve():
    broken = []
    for page in [*pages(), REPO / "README.md", EXAMPLES / "plugin" / "README.md"]:
        for target in _LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            if (page.parent / target).exists() or Path(target).name in PAGES_OF_OTHER_BRANCHES:
                continue
            broken.append(f"{page.relative_to(REPO)}: {target}")
    assert broken == [], f"{len(broken)} broken links: {broken}"


# -- examples/plugin: a third-party distribution, installed for real -------------------------


def _install(target: Path) -> None:
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        cmd = [str(uv), "pip", "install", "-q", "--python", sys.executable, "--target"]
    else:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--target",
        ]
    subprocess.run(
        [*cmd, str(target), "--no-deps", str(EXAMPLES / "plugin")], check=True, timeout=300
    )


@pytest.mark.timeout(600)
def test_plugin_example_installs_and_runs(tmp_path):
    if shutil.which("nice") is None:
        pytest.fail("the plugin example needs the nice command (coreutils)")
    site = tmp_path / "site"
    _install(site)
    assert (site / "dflow_nice" / "plugin.py").exists()
    work = tmp_path / "work"
    work.mkdir()
    (work / "dflow.toml").write_text('executor = "nice"\n\n[executors.nice]\nincrement = 7\n')
    env = {**os.environ, "PYTHONPATH": str(site), "DFLOW_MODE": "debug"}
    env.pop("DFLOW_PLUGINS", None)
    env.pop("DFLOW_DISABLE_PLUGINS", None)
    listed = subprocess.run(
        [sys.executable, "-m", "dflow", "plugins"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    [row] = [line.split() for line in listed.stdout.splitlines() if line.startswith("nice ")]
    assert row[:4] == ["nice", "dflow-nice", "0.1.0", "dflow_executors"]
    ran = subprocess.run(
        [sys.executable, str(EXAMPLES / "plugin" / "use_nice.py")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    shown = documented_output()["plugin/use_nice"]
    assert shown == ["default: niceness 7", "by-name: niceness 5"]
    # `nice -n N` is relative: under `nice make test` the steps run at ours + N (at most 19)
    ours = os.nice(0)
    expected = [
        re.sub(r"niceness (\d+)$", lambda m: f"niceness {min(19, ours + int(m[1]))}", line)
        for line in shown
    ]
    assert _missing_lines(expected, ran.stdout, []) == [], ran.stdout


# -- make demo: the lean first run ----------------------------------------------------------


@pytest.mark.timeout(900)
def test_make_demo_installs_only_core_and_the_local_engine(tmp_path):
    """``make demo`` into a fresh venv: the quickstart succeeds with dflow-core and
    dflow-engine-local installed, and no other plugin, test server client or tool."""
    if shutil.which("make") is None:
        pytest.fail("make is needed (it is the documented entry point)")
    venv = tmp_path / "venv"
    base = sys._base_executable  # the interpreter the project venv was made from
    proc = subprocess.run(
        ["make", "-C", str(REPO), "demo", f"VENV={venv}", f"PYTHON={base}"],
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^workflow quickstart-\w+: Succeeded$", proc.stdout, re.M), proc.stdout
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines() if "==" in line}
    assert {n for n in names if n.startswith("dflow")} == {"dflow-core", "dflow-engine-local"}
    heavy = {"boto3", "oss2", "google-cloud-storage", "dpdispatcher", "paramiko", "pytest", "ruff"}
    assert names & heavy == set()
    assert not (venv / ".installed").exists()  # the full install's stamp: not made by demo


def test_writing_a_plugin_lists_every_hook():
    from dflow.plugins import hookspecs

    hooks = sorted(n for n in vars(hookspecs) if n.startswith("dflow_"))
    assert len(hooks) >= 5
    page = (DOCS / "writing-a-plugin.md").read_text()
    assert [h for h in hooks if f"| `{h}` |" not in page] == [], "hooks missing from the table"
