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
from dflow.storage.archive import (
    ParallelGzipWriter,
    extract_archive,
    write_tgz,
    write_tgz_members,
)


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


def test_listed_members_are_written_in_order_each_alone(tmp_path):
    """``write_tgz_members``: the archive holds exactly the listed entries, in their order (a
    listed directory without its content; a made-up directory first), links followed."""
    src = tmp_path / "src"
    files = _tree(src)
    (src / "link.dat").symlink_to(src / "sub0" / "f00.dat")
    members = [
        (None, "top"),
        (str(src / "sub0"), "top/a"),
        (str(src / "link.dat"), "top/a/linked.dat"),
        (str(src / "sub1" / "f01.dat"), "top/f.dat"),
    ]
    dest = tmp_path / "m.tgz"
    write_tgz_members(members, str(dest), level=6)
    with tarfile.open(dest, "r|gz") as tar:
        got = [(m.name, m.type) for m in tar]
    assert got == [
        ("top", tarfile.DIRTYPE),
        ("top/a", tarfile.DIRTYPE),  # its files were not listed: not walked
        ("top/a/linked.dat", tarfile.REGTYPE),
        ("top/f.dat", tarfile.REGTYPE),
    ]
    extract_archive(str(dest), str(tmp_path / "out"))
    out = tmp_path / "out" / "top"
    assert (out / "a" / "linked.dat").read_bytes() == files["sub0/f00.dat"]
    assert (out / "f.dat").read_bytes() == files["sub1/f01.dat"]


def test_member_headers_are_tarfiles_own_with_whole_second_times(tmp_path):
    """Our header builder (names cached per archive) writes what tarfile would, except the
    mtime, which is whole seconds; symlinks are followed."""
    src = tmp_path / "src"
    _tree(src)
    (src / "link.dat").symlink_to(src / "sub0" / "f00.dat")
    os.chmod(src / "sub1" / "f01.dat", 0o640)
    dest = tmp_path / "a.tgz"
    write_tgz(str(src), "top", str(dest))
    fields = ("name", "mode", "uid", "gid", "size", "type", "uname", "gname", "linkname")
    with tarfile.open(dest) as tar:
        ours = {m.name: m for m in tar.getmembers()}
    with tarfile.open(tmp_path / "ref.tar", "w", dereference=True) as ref:
        ref.add(src, arcname="top")
    with tarfile.open(tmp_path / "ref.tar") as ref:
        theirs = {m.name: m for m in ref.getmembers()}
    assert sorted(ours) == sorted(theirs)
    for name, member in theirs.items():
        assert [getattr(ours[name], f) for f in fields] == [getattr(member, f) for f in fields]
        assert ours[name].mtime == int(member.mtime)
    assert ours["top/link.dat"].isreg() and ours["top/sub1/f01.dat"].mode == 0o640


def test_owner_names_are_looked_up_once_per_archive(tmp_path, monkeypatch):
    """tarfile asks pwd/grp for every member (each call reads /etc/passwd or /etc/group)."""
    import grp
    import pwd

    calls = []
    real_user, real_group = pwd.getpwuid, grp.getgrgid
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: calls.append(uid) or real_user(uid))
    monkeypatch.setattr(grp, "getgrgid", lambda gid: calls.append(gid) or real_group(gid))
    src = tmp_path / "src"
    for i in range(40):
        (src / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 4}" / f"f{i}").write_text(str(i))
    write_tgz(str(src), "top", str(tmp_path / "a.tgz"))
    assert len(calls) == 2  # one user, one group: 45 members
    with tarfile.open(tmp_path / "a.tgz") as tar:
        assert {m.uname for m in tar} == {real_user(os.getuid()).pw_name}


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


@pytest.mark.skipif(
    shutil.which("tar") is None or shutil.which("gzip") is None,
    reason="GNU tar and gzip are not installed",
)
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


def _read_in_odd_sizes(reader: archive.GunzipReader) -> bytes:
    parts, sizes = [], [1, 7, 4096, 100_000, 3]
    while True:
        chunk = reader.read(sizes[len(parts) % len(sizes)])
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def test_gunzip_reader_joins_members_and_skips_zero_padding():
    a, b = os.urandom(300_000), b"text line\n" * 50_000
    blob = gzip.compress(a) + b"\0" * 1000 + gzip.compress(b) + b"\0" * 10
    assert _read_in_odd_sizes(archive.GunzipReader(io.BytesIO(blob))) == a + b
    assert archive.GunzipReader(io.BytesIO(blob)).read() == a + b


def test_gunzip_reader_rejects_a_truncated_or_corrupted_stream():
    blob = gzip.compress(os.urandom(200_000))
    with pytest.raises(EOFError, match="truncated"):
        archive.GunzipReader(io.BytesIO(blob[:-100])).read()
    bad_crc = blob[:-8] + bytes([blob[-8] ^ 0xFF]) + blob[-7:]
    with pytest.raises(gzip.BadGzipFile, match="incorrect data check"):
        archive.GunzipReader(io.BytesIO(bad_crc)).read()


def test_gunzip_reader_holds_little_of_a_highly_compressible_stream():
    reader = archive.GunzipReader(io.BytesIO(gzip.compress(b"\0" * (200 << 20))))
    assert reader.read(10) == b"\0" * 10
    assert len(reader._buf) <= archive.GunzipReader.OUT  # not the 200 MiB behind it


def test_extract_sets_the_same_modes_as_the_data_filter(tmp_path):
    out = io.BytesIO()
    modes = [0o4777, 0o640, 0o600, 0o700, 0o444, 0o2755]
    with tarfile.open(fileobj=out, mode="w") as tar:
        for i, mode in enumerate(modes):
            info = tarfile.TarInfo(f"d/f{i}")
            info.size, info.mode, info.uid, info.uname = 3, mode, 4321, "someone"
            tar.addfile(info, io.BytesIO(b"abc"))
    (tmp_path / "m.tar").write_bytes(out.getvalue())
    extract_archive(str(tmp_path / "m.tar"), str(tmp_path / "ours"))
    with tarfile.open(tmp_path / "m.tar") as tar:
        tar.extractall(tmp_path / "tarfile", filter="data")
    for i in range(len(modes)):
        ours, theirs = (os.stat(tmp_path / d / "d" / f"f{i}") for d in ("ours", "tarfile"))
        assert oct(ours.st_mode) == oct(theirs.st_mode), f"mode {oct(modes[i])}"
        assert ours.st_mtime == theirs.st_mtime


def test_extract_does_not_write_through_symlinks_already_in_the_destination(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("keep")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "dir").symlink_to(outside)  # a directory link out of dest
    (dest / "leaf").symlink_to(outside / "secret")  # a file link out of dest
    for name in ("dir/secret", "leaf"):
        (tmp_path / "x.tar").write_bytes(_tar_bytes({"ok.txt": b"fine", name: b"overwritten"}))
        with pytest.raises((OSError, tarfile.TarError)):
            extract_archive(str(tmp_path / "x.tar"), str(dest))
        assert (outside / "secret").read_text() == "keep", name


def test_extract_follows_links_made_by_the_archive_only_inside(tmp_path):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("real/a.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"a"))
        link = tarfile.TarInfo("alias")
        link.type, link.linkname = tarfile.SYMTYPE, "real"
        tar.addfile(link)
        info = tarfile.TarInfo("alias/b.txt")  # through the archive's own (inside) link
        info.size = 1
        tar.addfile(info, io.BytesIO(b"b"))
    (tmp_path / "l.tar").write_bytes(out.getvalue())
    extract_archive(str(tmp_path / "l.tar"), str(tmp_path / "out"))
    assert (tmp_path / "out" / "real" / "b.txt").read_bytes() == b"b"
