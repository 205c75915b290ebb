"""Throughput of the OSS and GCS plugins against their raw SDKs, on the local test servers.

For each store: one large file (``--size`` MiB) uploaded then downloaded, and ``--files`` small
files (``--file-size`` bytes) uploaded then downloaded by a thread pool (16; 4 for the emulator), through the plugin's
client (``OSSClient`` / ``GCSClient``, with their MD5/CRC work and atomic downloads) and through
the raw SDK's plainest calls (oss2 ``put_object_from_file``/``get_object_to_file``; google-cloud-
storage ``upload_from_filename``/``download_to_filename``), in the same run and against the same
server. Both servers are Python processes on loopback (the OSS protocol server from
``plugins/storage_oss/tests`` and gcp-storage-emulator), so absolute MB/s say more about them
than about Aliyun or Google; the ratio is the point.

Run: ``python benchmarks/storage_oss_gcs_bench.py --size 256 --files 2000``.
Needs ``pip install -e 'plugins/storage_oss' -e 'plugins/storage_gcs[test]'``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from dflow.storage.transfer import run_concurrently

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(name: str, client, raw_up, raw_down, work: Path, size: int, files: list[Path],
          workers: int) -> None:
    run = uuid.uuid4().hex[:8]
    large = work / "large.bin"
    total_small = sum(f.stat().st_size for f in files)
    rows = []
    for label, up, down in (
        ("plugin", client.upload, client.download),
        ("raw SDK", raw_up, raw_down),
    ):
        tag = label.replace(" ", "")
        key = f"bench-{run}/{tag}/large.bin"
        t_up = timed(lambda up=up, key=key: up(key, str(large)))
        t_down = timed(lambda down=down, key=key, tag=tag: down(key, str(work / f"large-{tag}.out")))
        keys = [(f"bench-{run}/{tag}/small/{i:05d}", f) for i, f in enumerate(files)]
        out = work / f"small-{tag}"

        def put_one(kf, up=up):
            up(kf[0], str(kf[1]))

        def get_one(kf, down=down, out=out):
            down(kf[0], str(out / kf[0].rsplit("/", 1)[1]))

        t_sup = timed(lambda keys=keys, put_one=put_one: run_concurrently(put_one, keys, workers=workers))
        t_sdown = timed(lambda keys=keys, get_one=get_one: run_concurrently(get_one, keys, workers=workers))
        rows.append((label, size / MiB / t_up, size / MiB / t_down, len(files) / t_sup, len(files) / t_sdown))
    print(f"\n{name}: {size // MiB} MiB file; {len(files)} files of {total_small // len(files)} B, "
          f"{workers} threads")
    print(f"{'':8} {'large up MB/s':>14} {'large down MB/s':>16} {'small up files/s':>17} {'small down files/s':>19}")
    for label, lu, ld, su, sd in rows:
        print(f"{label:8} {lu:14.1f} {ld:16.1f} {su:17.1f} {sd:19.1f}")
    p, r = rows
    print(f"{'ratio':8} {p[1] / r[1]:14.2f} {p[2] / r[2]:16.2f} {p[3] / r[3]:17.2f} {p[4] / r[4]:19.2f}"
          "   (plugin / raw SDK)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="MiB of the large file")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--file-size", type=int, default=4096)
    parser.add_argument("--only", choices=["oss", "gcs"], default=None)
    args = parser.parse_args()
    size = args.size * MiB
    with tempfile.TemporaryDirectory(prefix="dflow-bench-") as tmp:
        work = Path(tmp)
        with open(work / "large.bin", "wb") as f:
            block = os.urandom(MiB)
            for i in range(args.size):
                f.write(i.to_bytes(8, "big") + block[8:])
        (work / "small").mkdir()
        files = []
        for i in range(args.files):
            path = work / "small" / f"{i:05d}"
            path.write_bytes(os.urandom(args.file_size))
            files.append(path)

        if args.only in (None, "oss"):
            import oss2
            from dflow_storage_oss import OSSClient

            conftest = _load(ROOT / "plugins/storage_oss/tests/conftest.py", "bench_oss_conftest")
            proc = conftest.OSSServerProcess().start()
            try:
                client = OSSClient(proc.endpoint, "dflow-test", "dflow-test-ak", "dflow-test-secret",
                                   prefix="", checkpoint_dir=str(work / "ckpt"))
                bucket = oss2.Bucket(oss2.Auth("dflow-test-ak", "dflow-test-secret"), proc.endpoint, "dflow-test")

                def raw_down(key, path):
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    bucket.get_object_to_file(key, path)

                bench("OSS (OSSClient vs oss2)", client, bucket.put_object_from_file, raw_down, work, size, files,
                      workers=16)
            finally:
                proc.stop()

        if args.only in (None, "gcs"):
            from dflow_storage_gcs import GCSClient
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            conftest = _load(ROOT / "plugins/storage_gcs/tests/conftest.py", "bench_gcs_conftest")
            emulator = conftest.GCSEmulator().start()
            try:
                client = GCSClient("dflow-test", "bench", endpoint=emulator.endpoint, prefix="")
                raw = storage.Client(project="bench", credentials=AnonymousCredentials(),
                                     client_options={"api_endpoint": emulator.endpoint}).bucket("dflow-test")

                def raw_down(key, path):
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    raw.blob(key).download_to_filename(path)

                bench("GCS (GCSClient vs google-cloud-storage)", client,
                      lambda key, path: raw.blob(key).upload_from_filename(path), raw_down, work, size, files,
                      workers=4)  # the emulator: HTTP/1.0, listen backlog 5
            finally:
                emulator.stop()


if __name__ == "__main__":
    main()
