"""The journal keeps a node's changes in memory until the next flush, then writes them at once.

What another process reads (``read_rows``, as ``wf.query()`` from a second process does) must be
what the runner was told, in order, and only what was committed.
"""

from __future__ import annotations

import sqlite3

from dflow_engine_local.journal import DB_NAME, Journal, Node, read_rows


def _read_nodes(wf_dir: str) -> list[Node]:
    return [Node.from_row(row) for row in read_rows(wf_dir)[1]]


def _leaf(i: int) -> Node:
    return Node(
        id=f"wf-sq-{i}",
        parent_id="wf",
        path=f"wf/sq/{i}",
        seq=i,
        name="sq",
        display_name=f"sq({i})",
        dir=f"wf-sq-{i}",
        inputs={"parameters": {"x": {"value": i}}},
    )


def _events(wf_dir: str) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(f"file:{wf_dir}/{DB_NAME}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT node_id, phase, message FROM events ORDER BY seq"))
    finally:
        conn.close()


def test_a_reader_sees_each_node_as_last_changed_and_its_events_in_order(tmp_path):
    j = Journal(str(tmp_path))
    root = j.put(Node(id="wf", path="wf", name="wf", type="Steps", phase="Running"))
    j.flush()
    a, b, gone = _leaf(1), _leaf(2), _leaf(3)
    for n in (a, b, gone):
        j.put(n)
    j.update(a, phase="Running", attempts=1)
    j.update(b, phase="Running", attempts=1)
    j.update(a, phase="Succeeded", outputs={"parameters": {"y": {"value": 1}}})
    j.update(root, message="1 of 2 done")
    j.update(b, inputs={"parameters": {"x": {"value": 20}}})
    j.record(b, "Failed", "attempt 1 failed")
    gone.parent_id = "wf-sq-holder"  # a node deleted before the flush is never written
    j.delete_below("wf-sq-holder")

    before = _read_nodes(str(tmp_path))
    assert {n.id: n.phase for n in before} == {"wf": "Running"}  # nothing uncommitted shows

    j.flush()
    nodes = _read_nodes(str(tmp_path))
    by_id = {n.id: n for n in nodes}
    assert sorted(by_id) == ["wf", "wf-sq-1", "wf-sq-2"]
    assert (by_id["wf-sq-1"].phase, by_id["wf-sq-1"].attempts) == ("Succeeded", 1)
    assert by_id["wf-sq-1"].outputs == {"parameters": {"y": {"value": 1}}}
    assert by_id["wf-sq-1"].inputs == {"parameters": {"x": {"value": 1}}}
    assert by_id["wf-sq-2"].phase == "Running"
    assert by_id["wf-sq-2"].inputs == {"parameters": {"x": {"value": 20}}}
    assert by_id["wf"].message == "1 of 2 done"
    assert _events(str(tmp_path)) == [
        ("wf-sq-1", "Running", ""),
        ("wf-sq-2", "Running", ""),
        ("wf-sq-1", "Succeeded", ""),
        ("wf-sq-2", "Failed", "attempt 1 failed"),
    ]

    # a committed node changed again: only what changed is written, the rest stays
    j.update(b, phase="Succeeded", outputs={"parameters": {"y": {"value": 400}}})
    j.flush()
    j.close()
    nodes = _read_nodes(str(tmp_path))
    b2 = {n.id: n for n in nodes}["wf-sq-2"]
    assert (b2.phase, b2.outputs["parameters"]["y"]["value"], b2.display_name) == (
        "Succeeded",
        400,
        "sq(2)",
    )
    assert b2.inputs == {"parameters": {"x": {"value": 20}}}

    # a new journal on the same file (a resumed run) finds every node as committed
    again = Journal(str(tmp_path))
    assert again.get("wf-sq-1").outputs == {"parameters": {"y": {"value": 1}}}
    assert again.get("wf-sq-3") is None
    again.close()
