"""What a chain step costs the engine, as counts (never as time): journal commits, step dirs
made ahead (spares), and scope building that must not grow with the steps done before."""

from __future__ import annotations

import collections
import gc
import os
import re
import threading
import time
from pathlib import Path

from dflow import Step, Workflow, upload_artifact
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate
from dflow_engine_local import journal, layout, mirror, nodes, run
from dflow_engine_local.state import Frame
from dflow_engine_local.values import Result
from local_engine_ops import AppendLine, Hello, Square


def _chain(n: int) -> Workflow:
    Path("seed.txt").write_text("a")
    wf = Workflow("chain")
    art = upload_artifact("seed.txt")
    for i in range(n):
        step = Step(
            f"s{i}",
            PythonOPTemplate(Hello),
            parameters={"msg": "m", "num": 1},
            artifacts={"foo": art},
        )
        wf.add(step)
        art = step.outputs.artifacts["bar"]
    return wf


def test_a_chain_commits_the_journal_in_groups_not_per_step(workdir, monkeypatch):
    """A chain step's open, Running and end wait for the group commit (50 ms or 32 finished
    steps): none of them commits alone, on the critical path between two steps."""
    commits = []
    real_flush = journal.Journal.flush

    def counting_flush(self):
        if self.broken is None and self.conn.in_transaction:
            commits.append(1)
        real_flush(self)

    monkeypatch.setattr(journal.Journal, "flush", counting_flush)
    # only the commits the steps need: no timed group commit, no control poll, in this test
    monkeypatch.setattr(nodes, "GROUP_COMMIT", 3600)
    monkeypatch.setattr(run, "POLL_SECONDS", 3600)
    wf = Workflow("commits")
    prev = None
    for i in range(8):
        step = Step(
            f"sq{i}",
            PythonOPTemplate(Square),
            parameters={"x": 2 if prev is None else prev.outputs.parameters["y"]},
        )
        wf.add(step)
        prev = step
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert [s.phase for s in wf.query_step(type="Pod")] == ["Succeeded"] * 8
    # the run's own (start, workers, end) only: one per finished step before, two before that
    assert len(commits) <= 5, len(commits)


def test_a_steps_scope_does_not_build_every_finished_steps_scope():
    """``steps.<name>`` is built when looked up: a chain's 1,000th step must not pay for the
    999 before it."""
    built = []

    class Counted(Result):
        def scope(self):
            built.append(self.node_id)
            return super().scope()

    frame = Frame(None, None, "main", {}, {}, "steps")  # type: ignore[arg-type]
    frame.results = {f"s{i}": Counted("Succeeded", f"s{i}", {"y": str(i)}) for i in range(1000)}

    class Ctx:
        wf_id, wf_params = "w", {}
        globals = {"parameters": {}, "artifacts": {}}

        class control:
            status = "Running"

    scope = frame.scope(Ctx())  # type: ignore[arg-type]
    assert scope["steps"]["s998"]["outputs"]["parameters"]["y"] == "998"
    assert built == ["s998"]
    assert len(scope["steps"]) == 1000 and "s0" in scope["steps"]


def test_a_run_reads_the_cache_settings_once_not_per_step(workdir, monkeypatch):
    """Each read of the ``[cache]`` settings looks for a dflow.toml in every dir up to ``/``:
    a chain step read them three times (its probe, its spec, then the attempt)."""
    from dflow.cache import settings as cache_settings

    reads = []
    real = cache_settings.load_settings

    def counting(*args, **kwargs):
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_settings, "load_settings", counting)
    wf = _chain(6)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert len(reads) <= 3, len(reads)  # submit's check, the workers' environment, the run


def _writers_of_a_chain(workdir, monkeypatch, memory: bool) -> list[str]:
    """The threads that wrote the mirror's files of a chain of 6, the workflow dir taken to
    be on tmpfs (``memory``) or on a disk; the layout checked as a user sees it."""
    threads = []
    real_overwrite, real_link_shared = mirror.overwrite, mirror.link_shared

    def recording(path, text):
        threads.append(threading.current_thread().name)
        real_overwrite(path, text)

    def recording_shared(store, path, text, symlink=False):  # name, type, metadata
        threads.append(threading.current_thread().name)
        real_link_shared(store, path, text, symlink)

    monkeypatch.setattr(mirror, "overwrite", recording)
    monkeypatch.setattr(mirror, "link_shared", recording_shared)
    monkeypatch.setattr(run, "memory_backed", lambda path: memory)
    wf = _chain(6)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    for sd in (workdir / wf.id).iterdir():
        if sd.is_dir() and (sd / "type").is_file() and (sd / "type").read_text() == "Pod":
            assert (sd / "phase").read_text() == "Succeeded"
            assert (sd / "outputs/artifacts/bar").is_symlink()
    return threads


def test_on_a_disk_the_layouts_deferred_files_are_written_off_the_event_loop(workdir, monkeypatch):
    """On a disk the mirror's files (name, type, phase, metadata, output links) are written by
    its writer thread while the loop hands out steps; the loop writes only what is left when
    the run ends."""
    threads = _writers_of_a_chain(workdir, monkeypatch, memory=False)
    # name, type and phases of most steps
    assert threads.count("dflow-mirror") >= 12, threads


def test_on_tmpfs_the_event_loop_writes_the_layouts_deferred_files(workdir, monkeypatch):
    """On tmpfs a write costs less than handing the GIL to a thread: the loop writes them."""
    threads = _writers_of_a_chain(workdir, monkeypatch, memory=True)
    assert len(threads) >= 12 and set(threads) == {threading.main_thread().name}, threads


def test_memory_backed_reads_the_mount_of_the_path(tmp_path):
    """The longest mount point above the path decides; an unknown table means a disk."""
    table = tmp_path / "mountinfo"
    table.write_text(
        "22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "25 22 0:21 / /dev/shm rw,nosuid shared:3 - tmpfs tmpfs rw\n"
        "26 25 252:0 / /dev/shm/disk rw - ext4 /dev/vdb rw\n"
        "27 22 0:30 / /my\\040runs rw - tmpfs tmpfs rw\n"
    )
    assert mirror.memory_backed("/dev/shm/wf", str(table))
    assert mirror.memory_backed("/dev/shm", str(table))
    assert not mirror.memory_backed("/dev/shmx/wf", str(table))
    assert not mirror.memory_backed("/dev/shm/disk/wf", str(table))
    assert not mirror.memory_backed("/home/wf", str(table))
    assert mirror.memory_backed("/my runs/wf", str(table))
    assert not mirror.memory_backed("/dev/shm/wf", str(tmp_path / "missing"))


def test_now_iso_formats_each_second_once_and_stays_exact(monkeypatch):
    """Argo's timestamp, with the second's text reused only within that second."""
    clock = [1_700_000_000.5]
    monkeypatch.setattr(journal.time, "time", lambda: clock[0])
    assert journal.now_iso() == "2023-11-14T22:13:20.500000Z"
    clock[0] = 1_700_000_000.999999
    assert journal.now_iso() == "2023-11-14T22:13:20.999999Z"
    clock[0] = 1_700_000_001.000042
    assert journal.now_iso() == "2023-11-14T22:13:21.000042Z"
    clock[0] = 1_700_086_400.25  # a day later
    assert journal.now_iso() == "2023-11-15T22:13:20.250000Z"


def _tree(root: Path) -> list[str]:
    """Every path below ``root`` (the random step-dir suffixes and artifact ids cut)."""
    paths = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        rel = re.sub(r"-[0-9a-z]{5}(?=/|$)", "-*", rel)
        rel = re.sub(r"\.dflow/[0-9a-f-]{36}", ".dflow/<id>", rel)
        paths.append(rel)
    return sorted(set(paths))


class Boom(OP):
    """Hello's signature; fails after reading its input (its output dirs stay empty)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"msg": str, "num": int, "foo": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"msg": str, "bar": Artifact(Path)})

    @OP.exec_sign_check
    def execute(self, op_in):
        raise RuntimeError("boom " + op_in["foo"].read_text())


def _chain_then_boom(n: int) -> Workflow:
    Path("seed.txt").write_text("a")
    wf = Workflow("boom")
    art = upload_artifact("seed.txt")
    for i in range(n + 1):
        op = Hello if i < n else Boom
        step = Step(
            f"s{i}" if i < n else "boom",
            PythonOPTemplate(op),
            parameters={"msg": "m", "num": 1},
            artifacts={"foo": art},
        )
        wf.add(step)
        art = step.outputs.artifacts["bar"]
    return wf


_TAKE = layout.SpareDirs.take


def _run_with_spares(workdir, monkeypatch, build, use: bool):
    """(phase, files of the finished run, the takes) of ``build()`` on a disk, spares taken
    (waiting for the writer thread to make each) or never."""
    monkeypatch.setattr(run, "memory_backed", lambda path: False)
    taken = []

    def waiting_take(self, kind, dest):
        if not use:
            return False
        if kind in self.ready:  # asked for before: the writer thread makes them, wait for it
            deadline = time.monotonic() + 30
            while not self.ready[kind] and time.monotonic() < deadline:
                time.sleep(0.005)
        ok = _TAKE(self, kind, dest)
        taken.append((kind, ok))
        return ok

    monkeypatch.setattr(layout.SpareDirs, "take", waiting_take)
    wf = build()
    wf.submit()
    wf_dir = workdir / wf.id
    assert ".spare" not in os.listdir(wf_dir)
    # (the shared copies' names are digests of their texts, a worker's pid among them)
    files = [
        p.replace(wf.id, "<wf>")
        for p in _tree(wf_dir)
        if "journal.db" not in p and not p.startswith(".groups/.files/")
    ]
    return wf, files, taken


def test_chain_steps_take_their_dirs_from_spares_and_keep_the_layout(workdir, monkeypatch):
    """On a disk, the writer thread makes a step's dir with its ``inputs/`` and an empty
    ``log.txt``, and its ``workdir/tmp/{inputs/artifacts,outputs/*}``, ahead and the runner
    moves them in (two renames for 11 mkdirs and a file); the finished run's files are
    those of a run without spares, and no ``.spare`` is left."""
    wf, without, _ = _run_with_spares(workdir, monkeypatch, lambda: _chain(4), use=False)
    wf, files, taken = _run_with_spares(workdir, monkeypatch, lambda: _chain(4), use=True)
    assert wf.query_status() == "Succeeded"
    last = wf.query_step(name="s3")[0]
    assert Path(last.outputs.artifacts["bar"].local_path, "output.txt").read_text() == "a"
    # the first step asks for each kind (its own dir, then its inputs/ in a dir it made);
    # every later one finds a spare of each
    assert (
        taken
        == [("pod", False), ("inputs", False), ("workdir-out", False)]
        + [
            ("pod", True),
            ("workdir-out", True),
        ]
        * 3
    ), taken
    assert files == without, sorted(set(files) ^ set(without))
    assert "<wf>-s3-*/workdir/tmp/inputs/artifacts/foo" in files
    assert "<wf>-s3-*/workdir/tmp/outputs/artifacts/bar/output.txt" in files


def test_a_failed_step_keeps_no_empty_output_dirs_from_its_spare(workdir, monkeypatch):
    """A step that fails writes no outputs: the output dirs its spare held are removed, so
    its files are those of a run without spares (pydflow's: ``workdir/tmp`` only)."""
    build = lambda: _chain_then_boom(2)  # noqa: E731
    wf, without, _ = _run_with_spares(workdir, monkeypatch, build, use=False)
    wf, files, taken = _run_with_spares(workdir, monkeypatch, build, use=True)
    assert wf.query_status() == "Failed"
    assert ("workdir-out", True) == taken[-1], taken
    assert files == without, sorted(set(files) ^ set(without))
    boom = [p for p in files if p.startswith("<wf>-boom-*/workdir")]
    assert "<wf>-boom-*/workdir/tmp/outputs" not in boom, boom
    assert "<wf>-boom-*/workdir/tmp/inputs/artifacts/foo" in boom, boom


def test_a_pod_spare_is_a_step_dir_with_its_inputs_and_an_empty_log(tmp_path):
    """A leaf step's own dir comes from a ``pod`` spare: ``inputs/{parameters,artifacts}``
    and an empty ``log.txt``, moved in by one rename; never over a step dir holding files."""
    spares = layout.SpareDirs(str(tmp_path))
    taken = tmp_path / "wf-a-1"
    assert not spares.take("pod", str(taken))  # asks for the kind
    spares.make_one()
    spares.make_one()
    busy = tmp_path / "wf-b-2"
    (busy / "inputs").mkdir(parents=True)
    (busy / "log.txt").write_text("an earlier attempt's\n")
    assert not spares.take("pod", str(busy))
    assert (busy / "log.txt").read_text() == "an earlier attempt's\n"
    assert spares.take("pod", str(taken))
    tree = sorted(str(p.relative_to(taken)) for p in taken.rglob("*"))
    assert tree == ["inputs", "inputs/artifacts", "inputs/parameters", "log.txt"], tree
    assert (taken / "log.txt").read_text() == ""
    spares.discard()


def test_the_writer_makes_spares_as_soon_as_the_runner_waits(tmp_path, monkeypatch):
    """In a chain a worker's step lasts about as long as the writer's wait for quiet
    (``Mirror.DELAY``), so spares were seldom ready: once the runner has handed a step to a
    worker (:meth:`Mirror.idle`) the writer makes them without that wait."""
    import asyncio

    monkeypatch.setattr(mirror.Mirror, "DELAY", 30.0)
    spares = layout.SpareDirs(str(tmp_path))
    spares.take("pod", str(tmp_path / "first"))  # the kind is asked for
    m = mirror.Mirror(threaded=True, spares=spares)

    async def step_handed_over() -> int:
        m.put(str(tmp_path / "phase"), "Running")  # the runner's writes for the step
        m.idle()
        deadline = time.monotonic() + 10  # a third of DELAY: without idle() none is made
        while len(spares.ready["pod"]) < layout.SpareDirs.KEEP and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return len(spares.ready["pod"])

    assert asyncio.run(step_handed_over()) == layout.SpareDirs.KEEP
    assert (tmp_path / "phase").read_text() == "Running"  # the queued writes first
    m.close()
    spares.discard()


def test_a_fan_outs_files_are_written_by_the_loop_and_a_chains_by_the_writer(workdir, monkeypatch):
    """On a disk the writer thread takes a chain step's deferred files (a core is idle while
    its worker runs); while a fan-out runs its loop and workers keep both cores busy, so the
    event loop writes its slices' files (``Mirror.fan_out``), as on tmpfs. Either way the
    layout is complete when the run ends."""
    from dflow.python import Slices

    monkeypatch.setattr(run, "memory_backed", lambda path: False)
    writers: dict[str, collections.Counter] = {}
    original = mirror.Mirror._do

    def spying_do(self, op, a, b):
        paths = a if isinstance(a, tuple) else (b if isinstance(b, str) else a)
        who = (threading.current_thread().name, "fanning" if self._fanning else "outside")
        for path in paths if isinstance(paths, tuple) else (paths,):
            step = re.search(r"-(sq|fan)-", str(path))
            if step:
                writers.setdefault(step.group(1), collections.Counter())[who] += 1
        return original(self, op, a, b)

    monkeypatch.setattr(mirror.Mirror, "_do", spying_do)
    wf = Workflow("fan")
    # the chain step runs 50 ms, the writer's window: a step ending within a millisecond could
    # end before the thread woke on a loaded machine (the fan-out's loop then took them all)
    line = {"x": 3, "path": str(workdir / "lines"), "delay": 0.05}
    wf.add(Step("sq", PythonOPTemplate(AppendLine), parameters=line))
    fan = PythonOPTemplate(Square, slices=Slices(input_parameter=["x"], output_parameter=["y"]))
    wf.add(Step("fan", fan, parameters={"x": list(range(8))}))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    loop, thread = threading.main_thread().name, "dflow-mirror"
    # the chain step's: the writer (from its dispatch on; its last op may meet the fan-out)
    assert sum(n for (who, _), n in writers["sq"].items() if who == thread) >= 1, writers
    # while the fan-out runs the loop writes, the thread none (but the one op it may have
    # begun as the fan-out began); the last slices' ends, still queued when the fan-out
    # ended, are the thread's again (how many depends on the machine's load: 0-36 of 88)
    fan = writers["fan"]
    assert fan[(loop, "fanning")] >= 1, writers
    assert fan[(thread, "fanning")] <= 1, writers
    slices = [s for s in wf.query_step(name="fan") if s.type == "Pod"]
    assert len(slices) == 8
    for s in slices:
        root = workdir / wf.id / s.id
        assert (root / "phase").read_text() == "Succeeded"
        assert (root / "outputs" / "parameters" / "y").is_file()


def test_a_spare_never_replaces_a_step_dir_that_is_there(tmp_path):
    """A retried or resumed step's ``inputs/`` is there already: the take fails, the spare
    stays ready for the next step, and the step's files are untouched."""
    spares = layout.SpareDirs(str(tmp_path))
    spares.make_one()
    assert not (tmp_path / ".spare").exists()  # none made of a kind nobody asked for
    step = tmp_path / "step"
    assert not spares.take("inputs", str(step / "inputs"))  # asks for the kind
    assert not spares.take("workdir", str(step / "workdir"))
    spares.make_one()
    spares.make_one()
    assert {k: len(r) for k, r in spares.ready.items()} == {"inputs": 1, "workdir": 1}
    (step / "inputs" / "parameters").mkdir(parents=True)
    (step / "inputs" / "parameters" / "x").write_text("1")
    assert not spares.take("inputs", str(step / "inputs"))
    assert (step / "inputs" / "parameters" / "x").read_text() == "1"
    assert len(spares.ready["inputs"]) == 1
    assert spares.take("workdir", str(step / "workdir"))
    assert (step / "workdir" / "tmp" / "inputs" / "artifacts").is_dir()
    assert not spares.take("workdir", str(tmp_path / "other"))  # none ready
    spares.discard()
    assert not (tmp_path / ".spare").exists()
    spares.make_one()  # none after the run's end
    assert not (tmp_path / ".spare").exists()


def test_a_killed_runs_spares_are_removed_when_the_next_run_starts(tmp_path):
    stale = tmp_path / ".spare" / "inputs-0" / "parameters"
    stale.mkdir(parents=True)
    m = mirror.Mirror(threaded=True, spares=layout.SpareDirs(str(tmp_path)))
    assert not (tmp_path / ".spare").exists()
    m.close()
    # no spares where the loop writes (tmpfs): a mkdir costs less than a thread hand-off
    assert mirror.Mirror(threaded=False, spares=layout.SpareDirs(str(tmp_path))).spares is None


def test_a_fan_outs_slices_make_their_own_dirs(workdir, monkeypatch):
    """In a fan-out the loop and the workers keep both cores busy: spares would only move
    mkdirs onto the writer thread at the cost of GIL hand-offs, so slices take none (the
    steps around the fan-out do)."""
    from dflow.python import Slices

    monkeypatch.setattr(run, "memory_backed", lambda path: False)
    asked = []
    monkeypatch.setattr(
        mirror.Mirror, "take_spare", lambda self, kind, dest: asked.append(dest) or False
    )
    wf = Workflow("fan")
    first = Step("sq", PythonOPTemplate(Square), parameters={"x": 3})
    wf.add(first)
    wf.add(
        Step(
            "fan",
            PythonOPTemplate(Square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
            parameters={"x": [1, 2, 3, 4]},
        )
    )
    wf.submit()
    assert wf.query_status() == "Succeeded"
    assert [s.outputs.parameters["y"].value for s in wf.query_step(name="sq")] == [9]
    # the first step's dir, then its inputs/ (none was ready); none for a slice
    assert len(asked) == 2 and all("-sq-" in dest for dest in asked), asked


class FrozenCount(OP):
    """How many objects the process running the OP keeps out of the collector's reach."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"n": int})

    def execute(self, op_in):
        return OPIO({"n": gc.get_freeze_count()})


def test_a_runs_objects_are_frozen_while_it_runs_and_collected_again_after(workdir):
    """What exists when the run starts (the workflow, the modules) is frozen: a full
    collection in the runner or a worker does not walk it (one took 30-60 ms, mid-chain);
    when submit() returns, the caller's process collects it again."""
    before = gc.get_freeze_count()  # 0, or what CPython 3.12.1 starts with (375)
    wf = Workflow("frozen")
    wf.add(Step("count", PythonOPTemplate(FrozenCount)))
    wf.submit()
    assert wf.query_status() == "Succeeded"
    # the pool's worker was forked with the runner's objects frozen
    assert int(wf.query_step(name="count")[0].outputs.parameters["n"].value) > 10_000
    assert gc.get_freeze_count() <= before


class CollectInWorker(OP):
    """Makes cyclic garbage, runs a full collection in its worker and says how many objects
    that froze (none may be: the user's cycles must stay collectable)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"frozen": int})

    def execute(self, op_in):
        before = gc.get_freeze_count()
        ring = [[] for _ in range(1000)]
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            a.append(b)
        keep = [list(range(3)) for _ in range(1000)]  # survivors of the collection
        del ring
        gc.collect()
        assert keep
        return OPIO({"frozen": gc.get_freeze_count() - before})


def test_a_full_collection_during_a_run_freezes_the_runners_survivors_not_a_workers(workdir):
    """A fan-out keeps its slices' records alive in the runner, and CPython's full collections
    came about every tenth young one, each walking all of them (quadratic: 30,000 slices spent
    586 ms in them). Each one's survivors are frozen now, in the runner only."""
    from dflow.plugins import hookimpl
    from dflow.plugins.manager import get_plugin_manager
    from dflow.python import Slices

    in_reach: list[int] = []  # objects a full collection would walk, just after one

    class Collector:  # step events reach observers in the runner, during the run
        @hookimpl
        def dflow_step_event(self, event):
            if event.phase == "Succeeded":
                gc.collect()
                in_reach.append(len(gc.get_objects()))

    pm = get_plugin_manager()
    pm.register(Collector(), name="test-collector")
    try:
        wf = Workflow("collect")
        fan = PythonOPTemplate(Square, slices=Slices(input_parameter=["x"], output_parameter=["y"]))
        wf.add(Step("fan", fan, parameters={"x": list(range(20))}))
        wf.add(Step("collect", PythonOPTemplate(CollectInWorker)))
        wf.submit()
    finally:
        pm.unregister("test-collector")
    assert wf.query_status() == "Succeeded"
    # each collection's survivors (the slices' records among them) left the collector's reach
    # (the median: the mirror's writer thread allocates between the freeze and the count;
    # without the freezing, 1,300-1,500 here and growing with the run)
    assert len(in_reach) >= 20 and sorted(in_reach)[len(in_reach) // 2] < 100, in_reach
    assert int(wf.query_step(name="collect")[0].outputs.parameters["frozen"].value) == 0
    assert gc.get_freeze_count() == 0
