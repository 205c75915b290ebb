"""The parallel, adaptive ``.tgz`` writer: readable by every gzip/tar reader, right bytes back."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest
from dflow.storage import archive
from dflow.storage.archive import ParallelGzipWriter, extract_archive, write_tgz


def _tree(root: Path) -> dict[str, bytes]:
    """A directory mixing incompressible and very compressible files, nested, with an empty dir."""
    files = {}
    for i in range(12):
        data = os.urandom(150_000) if i % 2 else (b"energy %d -1.2345e+02\n" % i) * 9000
        rel = f"sub{i % 3}/f{i:02d}.dat"
        files[rel] = data
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "empty").mkdir()
    return files


def _members(blob: bytes) -> int:
    """How many gzip members ``blob`` holds, decompressing them one after another."""
    count, rest = 0, blob
    while rest:
        member = zlib.decompressobj(31)
        member.decompress(rest)
        rest = member.unused_data
        count += 1
    return count


def test_round_trip_through_tarfile(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "BLOCK", 256 * 1024)  # several jobs even for a small tree
    src = tmp_path / "src"
    files = _tree(src)
    (src / "link.dat").symlink_to(src / "sub0" / "f00.dat")
    dest = tmp_path / "a.tgz"
    write_tgz(str(src), "top", str(dest))
    with tarfile.open(dest) as tar:  # the same call download_artifact makes
        tar.extractall(tmp_path / "out", filter="data")
    out = tmp_path / "out" / "top"
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data
    assert (out / "empty").is_dir()
    # symlinks are followed: the archive holds a copy, not a link
    assert not (out / "link.dat").is_symlink()
    assert (out / "link.dat").read_bytes() == files["sub0/f00.dat"]
    # one gzip member, so even tarfile's streaming reader (which cannot do several) takes it
    assert _members(dest.read_bytes()) == 1
    with tarfile.open(dest, "r|gz") as tar:
        names = [m.name for m in tar]
    assert "top/sub1/f01.dat" in names


def _gzip(data: bytes, **kwargs) -> bytes:
    out = io.BytesIO()
    with ParallelGzipWriter(out, **kwargs) as gz:
        gz.write(data)
    return out.getvalue()


def test_binary_is_stored_and_text_is_compressed(tmp_path):
    text = b"step 17 converged; residual 1.0e-08\n" * 50_000
    noise = os.urandom(len(text))
    packed_text, packed_noise = _gzip(text), _gzip(noise)
    assert len(packed_text) < len(text) / 20
    # stored: a few bytes of framing per 64 KiB over the input
    assert len(noise) < len(packed_noise) < len(noise) * 1.001
    assert gzip.decompress(packed_text) == text
    assert gzip.decompress(packed_noise) == noise


@pytest.mark.skipif(shutil.which("tar") is None or shutil.which("gzip") is None,
                    reason="GNU tar and gzip are not installed")
def test_gnu_tar_and_gzip_read_the_archive(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "BLOCK", 128 * 1024)
    src = tmp_path / "src"
    files = _tree(src)
    dest = tmp_path / "a.tgz"
    write_tgz(str(src), "top", str(dest))
    subprocess.run(["gzip", "-t", str(dest)], check=True)
    (tmp_path / "gnu").mkdir()
    subprocess.run(["tar", "-xzf", str(dest), "-C", str(tmp_path / "gnu")], check=True)
    for rel, data in files.items():
        assert (tmp_path / "gnu" / "top" / rel).read_bytes() == data


def test_empty_input_is_a_valid_gzip_file(tmp_path):
    out = io.BytesIO()
    with ParallelGzipWriter(out):
        pass
    assert gzip.decompress(out.getvalue()) == b""


def test_writes_arrive_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "BLOCK", 1000)
    out = io.BytesIO()
    chunks = [bytes([i % 251]) * (300 + i) for i in range(400)]
    with ParallelGzipWriter(out, workers=4) as gz:
        for chunk in chunks:
            gz.write(chunk)
        assert gz.tell() == sum(map(len, chunks))
    assert gzip.decompress(out.getvalue()) == b"".join(chunks)


def test_an_unreadable_source_file_fails_the_archive(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text("fine")
    (src / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(OSError, match="gone|dangling"):
        write_tgz(str(src), "top", str(tmp_path / "a.tgz"))


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_extract_reads_a_gzip_file_of_several_members(tmp_path):
    raw = _tar_bytes({"a/x.txt": b"x" * 5000, "a/y.bin": os.urandom(70_000)})
    half = len(raw) // 2
    (tmp_path / "multi.tgz").write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    assert extract_archive(str(tmp_path / "multi.tgz"), str(tmp_path / "out")) == 2
    assert (tmp_path / "out" / "a" / "x.txt").read_bytes() == b"x" * 5000


def test_extract_keeps_links_and_large_files(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "SMALL_MEMBER", 1000)  # the in-order path for big members
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(50_000))
    (src / "small.txt").write_text("hello")
    (src / "alias.txt").symlink_to("small.txt")
    with tarfile.open(tmp_path / "a.tar", "w") as tar:  # a plain tar that keeps the symlink
        tar.add(src, arcname="top")
    assert extract_archive(str(tmp_path / "a.tar"), str(tmp_path / "out")) == 2
    out = tmp_path / "out" / "top"
    assert (out / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert os.readlink(out / "alias.txt") == "small.txt"
    assert (out / "alias.txt").read_text() == "hello"


def test_extract_refuses_paths_outside_the_destination(tmp_path):
    (tmp_path / "evil.tar").write_bytes(_tar_bytes({"../escaped.txt": b"no"}))
    with pytest.raises(tarfile.TarError, match="outside the destination"):
        extract_archive(str(tmp_path / "evil.tar"), str(tmp_path / "out"))
    assert not (tmp_path / "escaped.txt").exists()
