"""Throughput of the OSS plugin (``OSSClient``) against oss2 itself, on the OSS test server.

The storage issue's two workloads, each uploaded then downloaded, in the same run against the
same server process (``plugins/storage_oss/tests/oss_server.py``, started by PID):

- one file (``--size`` MiB, default 1 GiB): ``OSSClient.upload/download`` (multipart and
  ranged, every transfer CRC-checked, atomic download) beside oss2's plainest calls for a file
  of that size, ``put_object_from_file`` / ``get_object_to_file`` (CRC-checked by oss2), the
  baseline of the ratio. oss2's ``resumable_upload`` / ``resumable_download`` (4 threads) are
  shown too. Target: ratio >= 0.80.
- many small files (``--files`` x ``--file-size`` B, default 10,000 x 107,374 B = 1 GiB):
  dflow's tree transfer (``upload_s3`` / ``download_s3`` with ``storage_client=OSSClient``)
  beside a sequential ``for`` loop of oss2 ``put_object_from_file`` / ``get_object_to_file``.
  Target: 5x the loop. Also shown: the same oss2 calls on a 16-thread pool.

Under each table: CPU seconds of this process (client) and of the server process per object,
and the shortest wall time the machine's cores allow for that CPU work, so the reader sees
whether the client, the server or the cores bounded a row. The server is a Python process on
the same cores, so absolute MB/s say more about it than about Aliyun; the ratios are the point.

Run: ``python benchmarks/storage_oss_bench.py`` (full size), ``--quick`` (64 MiB, 500 files),
or ``--size 256 --files 2000 --repeat 2``. Needs ``pip install -e plugins/storage_oss``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _storage_common import (  # noqa: E402
    SMALL_FILE_SIZE,
    CpuMeter,
    MiB,
    print_table,
    write_large_file,
    write_small_tree,
)

AK, SECRET, BUCKET = "dflow-test-ak", "dflow-test-secret", "dflow-test"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Runner:
    """Times blocks with a :class:`CpuMeter` (best of ``repeat``) and keeps their footnotes."""

    def __init__(self, server_pid: int, repeat: int) -> None:
        self.server_pid, self.repeat = server_pid, repeat
        self.notes: list[str] = []
        self.meters: dict[str, CpuMeter] = {}

    def run(
        self,
        label: str,
        fn: Callable[[], object],
        objects: int,
        cleanup: Callable[[], object] = lambda: None,
    ) -> float:
        best: CpuMeter | None = None
        for _ in range(self.repeat):
            meter = CpuMeter(self.server_pid)
            with meter:
                fn()
            if best is None or meter.wall < best.wall:
                best = meter
            cleanup()
        self.meters[label] = best
        self.notes.append(
            f"  {label:<40} {best.describe(objects)}; two-core bound "
            f"{best.bound * 1e3 / objects:.2f} ms/object"
        )
        return best.wall

    def flush(self) -> None:
        print("CPU per object (client = this process, server = the OSS test server):")
        print("\n".join(self.notes))
        self.notes.clear()


def large_file(runner: Runner, client, bucket, oss2, work: Path, size: int) -> None:
    big = work / "big.bin"
    write_large_file(big, size)
    mb = size / 1e6
    run = uuid.uuid4().hex[:8]
    out = work / "big.out"

    def rm_out() -> None:
        if out.exists():
            out.unlink()

    ck = str(work / "oss2-checkpoints")
    # uploads first (each key then serves its download), alternating plugin and baselines
    t_raw_up = runner.run(
        "oss2 put_object_from_file", lambda: bucket.put_object_from_file(f"{run}/raw", str(big)), 1
    )
    t_up = runner.run("OSSClient.upload", lambda: client.upload(f"{run}/plugin", str(big)), 1)
    t_res_up = runner.run(
        "oss2 resumable_upload (4 threads)",
        lambda: oss2.resumable_upload(
            bucket, f"{run}/resumable", str(big), store=oss2.ResumableStore(root=ck), num_threads=4
        ),
        1,
    )
    t_raw_down = runner.run(
        "oss2 get_object_to_file",
        lambda: bucket.get_object_to_file(f"{run}/raw", str(out)),
        1,
        rm_out,
    )
    t_down = runner.run(
        "OSSClient.download", lambda: client.download(f"{run}/plugin", str(out)), 1, rm_out
    )
    t_res_down = runner.run(
        "oss2 resumable_download (4 threads)",
        lambda: oss2.resumable_download(
            bucket,
            f"{run}/raw",
            str(out),
            store=oss2.ResumableDownloadStore(root=ck),
            num_threads=4,
        ),
        1,
        rm_out,
    )
    for key in ("raw", "plugin", "resumable"):
        bucket.delete_object(f"{run}/{key}")  # the server keeps objects in memory
    big.unlink()
    print_table(
        f"\nOne file of {size // MiB} MiB ({runner.repeat} run(s), best):",
        [
            ("one file upload", mb / t_up, mb / t_raw_up, "oss2 put_object_from_file"),
            ("one file download", mb / t_down, mb / t_raw_down, "oss2 get_object_to_file"),
            ("one file upload", mb / t_up, mb / t_res_up, "oss2 resumable_upload, 4 threads"),
            (
                "one file download",
                mb / t_down,
                mb / t_res_down,
                "oss2 resumable_download, 4 threads",
            ),
        ],
    )
    runner.flush()


def small_files(runner: Runner, client, bucket, work: Path, count: int, file_size: int) -> None:
    from dflow.storage import download_artifact, download_s3, upload_artifact, upload_s3
    from dflow.storage.transfer import run_concurrently

    tree = work / "tree"
    paths = write_small_tree(tree, count, file_size)
    rels = [p.relative_to(tree).as_posix() for p in paths]
    mb = count * file_size / 1e6
    run = uuid.uuid4().hex[:8]
    out = work / "tree.out"

    def fresh_out() -> None:  # the loops get their directories made before the clock starts
        shutil.rmtree(out, ignore_errors=True)
        for rel in sorted({os.path.dirname(r) for r in rels}):
            (out / rel).mkdir(parents=True, exist_ok=True)

    def loop_up() -> None:
        for rel, path in zip(rels, paths, strict=True):
            bucket.put_object_from_file(f"{run}/loop/{rel}", str(path))

    def loop_down() -> None:
        for rel in rels:
            bucket.get_object_to_file(f"{run}/loop/{rel}", str(out / rel))

    def pool_up() -> None:
        run_concurrently(
            lambda i: bucket.put_object_from_file(f"{run}/pool/{rels[i]}", str(paths[i])),
            range(count),
            16,
        )

    def pool_down() -> None:
        run_concurrently(
            lambda rel: bucket.get_object_to_file(f"{run}/pool/{rel}", str(out / rel)), rels, 16
        )

    def cleanup_out() -> None:
        shutil.rmtree(out, ignore_errors=True)

    t_up = runner.run(
        "upload_s3 (OSSClient, 16 threads)",
        lambda: upload_s3(str(tree), f"{run}/plugin", storage_client=client),
        count,
    )
    shutil.rmtree(out, ignore_errors=True)
    t_down = runner.run(
        "download_s3 (OSSClient, 16 threads)",
        lambda: download_s3(f"{run}/plugin", str(out), storage_client=client),
        count,
        cleanup_out,
    )
    art: list = []  # the default artifact path: one streamed .tgz
    t_tar_up = runner.run(
        "upload_artifact archive=tar",
        lambda: art.append(upload_artifact(str(tree), archive="tar", storage_client=client)),
        count,
    )
    t_tar_down = runner.run(
        "download_artifact archive=tar",
        lambda: download_artifact(art[-1], path=str(out), storage_client=client),
        count,
        cleanup_out,
    )
    cleanup_out()
    t_loop_up = runner.run("oss2 put_object_from_file, for loop", loop_up, count)
    fresh_out()
    t_loop_down = runner.run("oss2 get_object_to_file, for loop", loop_down, count, fresh_out)
    t_pool_up = runner.run("oss2 put_object_from_file, 16 threads", pool_up, count)
    t_pool_down = runner.run("oss2 get_object_to_file, 16 threads", pool_down, count, fresh_out)
    cleanup_out()
    shutil.rmtree(tree)
    for part in ("plugin", "loop", "pool"):  # free the server's memory
        keys = [k for k in client.list(f"{run}/{part}/", recursive=True)]
        for start in range(0, len(keys), 1000):
            bucket.batch_delete_objects(keys[start : start + 1000])
    print_table(
        f"\n{count} files of {file_size} B ({runner.repeat} run(s), best):",
        [
            ("many files upload", mb / t_up, mb / t_loop_up, "oss2 sequential loop (target 5x)"),
            (
                "many files download",
                mb / t_down,
                mb / t_loop_down,
                "oss2 sequential loop (target 5x)",
            ),
            ("upload_artifact archive=tar", mb / t_tar_up, mb / t_loop_up, "oss2 sequential loop"),
            (
                "download_artifact archive=tar",
                mb / t_tar_down,
                mb / t_loop_down,
                "oss2 sequential loop",
            ),
            ("many files upload", mb / t_up, mb / t_pool_up, "oss2 on 16 threads"),
            ("many files download", mb / t_down, mb / t_pool_down, "oss2 on 16 threads"),
        ],
    )
    runner.flush()
    for way, loop in (
        ("upload", "oss2 put_object_from_file, for loop"),
        ("download", "oss2 get_object_to_file, for loop"),
    ):
        server = runner.meters[f"{way}_s3 (OSSClient, 16 threads)"].server / count
        loop_wall = runner.meters[loop].wall / count
        cores = os.cpu_count() or 1
        print(
            f"  {way}: the server alone needs {server * 1e3:.2f} ms CPU/object, so even a client costing "
            f"nothing takes >= {server / cores * 1e3:.2f} ms/object on {cores} cores (>= "
            f"{server * 1e3:.2f} if the server's GIL serializes it): at most "
            f"{loop_wall * cores / server:.1f}x ({loop_wall / server:.1f}x) the loop's {loop_wall * 1e3:.2f} ms/object"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="MiB of the one file (1024)")
    parser.add_argument("--files", type=int, default=10_000, help="number of small files (10,000)")
    parser.add_argument(
        "--file-size", type=int, default=SMALL_FILE_SIZE, help="bytes per small file"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each row; the best is shown")
    parser.add_argument("--quick", action="store_true", help="64 MiB and 500 files")
    args = parser.parse_args()
    if args.quick:
        args.size, args.files = 64, 500

    import oss2
    from dflow_storage_oss import OSSClient

    conftest = _load(ROOT / "plugins/storage_oss/tests/conftest.py", "bench_oss_conftest")
    load = os.getloadavg()
    print(
        f"OSSClient vs oss2 {oss2.__version__} on the OSS test server; {os.cpu_count()} cores, "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    work = Path(tempfile.mkdtemp(prefix="dflow-oss-bench-"))
    server = conftest.OSSServerProcess(
        "--access-key-id", AK, "--access-key-secret", SECRET, "--bucket", BUCKET
    ).start()
    try:
        client = OSSClient(server.endpoint, BUCKET, AK, SECRET, prefix="")
        bucket = oss2.Bucket(
            oss2.Auth(AK, SECRET), server.endpoint, BUCKET
        )  # enable_crc: oss2's default
        runner = Runner(server.proc.pid, args.repeat)
        large_file(runner, client, bucket, oss2, work, args.size * MiB)
        small_files(runner, client, bucket, work, args.files, args.file_size)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
