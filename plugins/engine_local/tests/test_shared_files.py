"""Small step files many steps hold alike are hard links to one copy (issue 15, ext4 cost).

``name``, ``type``, ``.dflow`` type metadata, a pool worker's ``pid`` and a slice's link to its
loop's list are written as hard links to one file per text in ``<wf>/.groups/.files``, and a
Python OP's output parameter file as a link to the file the OP wrote: the layout and every
file's text stay pydflow's, but a fan-out's slice makes 7 fewer inodes (on ext4 100-300 µs
each, a link about 7 µs). A writer that rewrites one of them in place must never change the
other steps' files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dflow import Step, Workflow
from dflow.python import PythonOPTemplate, Slices
from dflow_engine_local.layout import link_shared, overwrite, write_new
from dflow_engine_local.mirror import memory_backed
from local_engine_ops import Square


def test_fanout_slices_share_one_inode_per_text(workdir):
    step = Step(
        "sq",
        PythonOPTemplate(Square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
        parameters={"x": list(range(6))},
    )
    wf = Workflow("shared")
    wf.add(step)
    wf.submit()
    wf_dir = workdir / wf.id
    slices = sorted(p for p in wf_dir.iterdir() if p.name.startswith(f"{wf.id}-sq-"))
    assert len(slices) == 6
    texts = {
        "name": "sq",
        "type": "Pod",
        "inputs/parameters/.dflow/x": '{"type": "int"}',
        "outputs/parameters/.dflow/y": '{"type": "int"}',
    }
    for rel, text in texts.items():
        assert [(s / rel).read_text() for s in slices] == [text] * 6, rel
        inodes = {os.lstat(s / rel).st_ino for s in slices}
        assert len(inodes) == 1, f"{rel}: {len(inodes)} inodes for 6 slices"
    # each slice's own files stay its own (a slice's output: pydflow's one-item list)
    ys = [json.loads((s / "outputs/parameters/y").read_text()) for s in slices]
    assert sorted(y[0]["dflow_list_item"] for y in ys) == [i * i for i in range(6)]
    assert len({os.lstat(s / "outputs/parameters/y").st_ino for s in slices}) == 6
    # ... and one inode with the file the OP wrote (workdir/tmp/outputs), same text
    for s in slices:
        own, produced = s / "outputs/parameters/y", s / "workdir/tmp/outputs/parameters/y"
        assert own.read_text() == produced.read_text()
        assert os.lstat(own).st_ino == os.lstat(produced).st_ino
    # a pid file per worker (the pool has 2), each naming a worker that ran the slice
    pids = {(s / "pid").read_text() for s in slices}
    assert 1 <= len(pids) <= 2 and all(p.isdigit() for p in pids)
    assert len({os.lstat(s / "pid").st_ino for s in slices}) == len(pids)
    # the slices' links to the loop's list: one symlink inode, the same target
    links = [s / "inputs/parameters/x" for s in slices]
    assert all(p.is_symlink() for p in links)
    assert len({os.readlink(p) for p in links}) == 1
    assert len({os.lstat(p).st_ino for p in links}) == 1


def test_rewriting_a_linked_file_leaves_the_others(tmp_path):
    store = str(tmp_path / "store")
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    for path in (a, b, c):
        link_shared(store, path, "Pod")
    assert os.stat(a).st_ino == os.stat(b).st_ino == os.stat(c).st_ino
    overwrite(a, "Steps")  # a step's type or phase written again in place
    write_new(b, "x")  # a parameter's metadata written again (reuse_step)
    assert [Path(p).read_text() for p in (a, b, c)] == ["Steps", "x", "Pod"]
    link_shared(store, c, "DAG")  # a step written again by the mirror: relinked
    assert Path(c).read_text() == "DAG"
    link_shared(store, a, "Pod")
    assert Path(a).read_text() == "Pod"
    assert Path(store, os.listdir(store)[0]).exists()


def test_a_text_past_the_link_limit_gets_a_new_copy(tmp_path):
    # ext4 allows 65,000 links to one inode: a 100,000-way fan-out's "type" files pass that
    store = str(tmp_path / "store")
    dirs = tmp_path / "d"
    dirs.mkdir()
    n = 65_010
    for i in range(n):
        link_shared(store, str(dirs / str(i)), "Pod")
    inodes = {}
    for entry in os.scandir(dirs):
        inodes.setdefault(entry.inode(), 0)
        inodes[entry.inode()] += 1
    assert sum(inodes.values()) == n
    assert (dirs / "0").read_text() == (dirs / str(n - 1)).read_text() == "Pod"
    # tmpfs has no limit (one inode); ext4's (here: /tmp) needs a second copy
    assert len(inodes) == (1 if memory_backed(str(tmp_path)) else 2)


def test_a_store_where_no_link_can_go_writes_files(tmp_path):
    # a store on another file system (EXDEV), as a workflow dir moved across mounts would be
    path = tmp_path / "type"
    other = Path("/proc/self")  # no link can point there
    link_shared(str(other / "nope"), str(path), "Pod")
    assert path.read_text() == "Pod"
    assert os.stat(path).st_nlink == 1
