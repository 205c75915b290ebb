"""The HTML report of a run: ``wf.report(path)`` and ``dflow report ID``, on both engines.

The page is checked as a user sees it: text and links in the HTML, and in headless Chromium
(Debian's ``chromium``, installed by the test when missing) that it renders the step table and
the graph with no console error; a screenshot is kept in ``.work/artifacts/``.
"""

from __future__ import annotations

import re
import sys
import time
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from dflow import InputParameter, OutputArtifact, ShellOPTemplate, Step, Workflow
from dflow.testing import browser

sys.path.insert(0, str(Path(__file__).parent))
from test_graph_phases import engine, phased_workflow  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / ".work" / "artifacts"
HOSTILE = "<script>alert(1)</script>"


def report_workflow() -> Workflow:
    """``write`` (a hostile parameter value, an output artifact), then ``break`` (fails after
    40 lines of log)."""
    writer = ShellOPTemplate(
        name="writer",
        image="alpine:3",
        script="mkdir -p /tmp/out && echo '{{inputs.parameters.text}}' > /tmp/out/said.txt\n"
        "echo wrote",
    )
    writer.inputs.parameters["text"] = InputParameter()
    writer.outputs.artifacts["out"] = OutputArtifact(path="/tmp/out")
    breaker = ShellOPTemplate(
        name="breaker",
        image="alpine:3",
        script="for i in $(seq 1 40); do echo fail-line-$i; done\nexit 2",
    )
    wf = Workflow("reported")
    wf.add(Step("write", writer, parameters={"text": HOSTILE}))
    wf.add(Step("break", breaker))
    return wf


def _run(wf: Workflow) -> Workflow:
    wf.submit()
    wf.wait(interval=0.05)
    return wf


def test_report_shows_failures_values_logs_and_artifacts(engine, tmp_path):  # noqa: F811
    wf = _run(report_workflow())
    assert wf.query_status() == "Failed"
    path = Path(wf.report(str(tmp_path / "report.html")))
    page = path.read_text()
    # user values are escaped: the only script element is the page's own
    assert page.count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    failures = page[page.index("<h2>Failures</h2>") : page.index("<h2>Steps")]
    assert "break" in failures and "fail-line-40" in failures and "fail-line-11\n" in failures
    assert "fail-line-10\n" not in failures and "… 10 earlier lines" in failures
    table = page[page.index('<table id="steps">') : page.index("</table>")]
    assert table.count("<tr>") == 3  # header + write + break
    link = re.search(r'<b>out</b>: (?:<a href="([^"]+)">|<code>([^<]+)</code>)', table)
    assert link, table
    if engine == "local":
        said = Path(unquote(urlparse(unescape(link.group(1))).path)) / "said.txt"
        assert said.read_text().strip() == HOSTILE
    else:
        assert link.group(2).startswith("s3://") and "out" in link.group(2)
    assert '<g class="node op phase-Failed" data-path="break"' in page
    assert "<h2>Step cache</h2>" not in page  # no step of it was cached


def test_report_of_a_running_workflow(engine, tmp_path):  # noqa: F811
    slow = ShellOPTemplate(name="slow", image="alpine:3", script="echo started; sleep 30")
    wf = Workflow("running")
    wf.add(Step("slow", slow))
    wf.submit(wait=False)
    try:
        deadline = time.monotonic() + 60
        while not any(s.phase == "Running" for s in wf.query_step(name="slow")):
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.1)
        page = Path(wf.report(str(tmp_path / "r.html"))).read_text()
    finally:
        wf.terminate()
    assert "The workflow is still running: this is a snapshot." in page
    assert '<g class="node op phase-Running" data-path="slow"' in page
    assert "Running</span></h1>" in page


def test_dflow_report_command(tmp_path, monkeypatch, capsys):
    from dflow import config
    from dflow.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(config, "mode", "debug")
    wf = _run(report_workflow())
    capsys.readouterr()
    assert main(["report", wf.id, "-o", "out.html"]) == 0
    assert f"report of {wf.id}: {tmp_path / 'out.html'}" in capsys.readouterr().out
    assert main(["report", wf.id]) == 0  # default name
    assert "fail-line-40" in (tmp_path / f"{wf.id}-report.html").read_text()
    assert main(["graph", wf.id, "--format", "html", "-o", "g.html"]) == 0
    assert (tmp_path / "g.html").read_text().startswith("<!DOCTYPE html>")


def test_a_report_needs_a_submitted_workflow():
    with pytest.raises(ValueError, match="workflow 'reported' has no id: submit it first"):
        report_workflow().report("x.html")


# -- in a real browser ----------------------------------------------------------------------


def _chromium() -> None:
    try:
        browser.chromium()
    except browser.BrowserUnavailable as exc:  # only when apt cannot reach Debian
        pytest.skip(f"headless Chromium unavailable: {exc}")


def test_browser_check_sees_console_errors(tmp_path):
    """The harness itself: a page with a script error is caught (so a clean result means it)."""
    _chromium()
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p id=x>hi</p><script>undefinedFn();</script>")
    shown = browser.load(bad)
    assert '<p id="x">hi</p>' in shown.dom
    assert shown.console == ("Uncaught ReferenceError: undefinedFn is not defined",)


def test_report_renders_in_headless_chromium(tmp_path, monkeypatch):
    from dflow import config

    _chromium()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(config, "mode", "debug")
    wf = _run(phased_workflow())
    page = Path(wf.report(str(tmp_path / "report.html")))
    shown = browser.load(page)
    assert shown.console == ()
    dom = shown.dom
    assert re.search(r'<table id="steps">.*<tbody>(<tr>.*?</tr>){9}</tbody>', dom, re.S)
    assert dom.count('class="node op') == 6 and "<svg" in dom  # 5 steps + exit handler
    assert "square ×4" in dom and "3 Succeeded, 1 Failed" in dom
    png = browser.screenshot(page, ARTIFACTS / "report.png", size=(1200, 1400))
    assert png.stat().st_size > 10_000
