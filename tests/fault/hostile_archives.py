"""A corpus of hostile tar archives, built in memory (standard library only: the 3.11.7 check
imports it in a bare interpreter).

Each entry is ``(label, member named in the error, tar bytes)``. Every archive has one top
directory ``top`` (the layout Argo and ``upload_artifact`` make, merged away on download) unless
the attack needs another shape; the sentinel ``outside/secret`` is what an escape would reach
(``dest`` is ``<tmp>/work/out``, so ``../../outside`` from the top directory).
"""

from __future__ import annotations

import io
import tarfile

PAYLOAD = b"overwritten by the archive"


def _file(name: str, data: bytes = PAYLOAD) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _dir(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, None


def _special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = kind, 1, 3
    return info, None


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


#: the chain's deepest link: its real place is over PATH_MAX, where the attack starts
CHAIN_LINK = "/".join("abcdefghijklmnop") + "/" + "l" * 254


def symlink_chain() -> tuple[tarfile.TarInfo | tuple, ...]:
    """CVE-2025-4517's shape: links through directories with long names make the resolved
    path longer than PATH_MAX, where ``os.path.realpath`` (and so ``data_filter`` before its
    fix) stops resolving; a final link then climbs out and a file is written through it."""
    long = "d" * 247
    steps = "abcdefghijklmnop"
    members: list = []
    path = ""
    for step in steps:
        members.append(_dir(f"{path}{long}"))
        members.append(_link(f"{path}{step}", long))
        path += f"{step}/"
    deep = f"{path}{'l' * 254}"
    members.append(_link(deep, "../" * len(steps)))
    # from dest (…/work/out): ``deep`` is dest itself; up to …/work, then into outside/
    members.append(_link("escape", f"{deep}/../outside"))
    members.append(_file("escape/secret"))
    return tuple(members)


def corpus() -> list[tuple[str, str, bytes]]:
    """Every hostile archive: ``(label, member the error must name, archive bytes)``."""
    deep = "/".join(["n" * 200] * 21)  # 4,220 bytes: over PATH_MAX on its own
    return [
        (
            "dot-dot",
            "top/../../outside/secret",
            _tar(_dir("top"), _file("top/../../outside/secret")),
        ),
        ("absolute", "/tmp/dflow-hostile-absolute", _tar(_file("/tmp/dflow-hostile-absolute"))),
        (
            "link up then write",
            "top/up",
            _tar(_dir("top"), _link("top/up", "../../.."), _file("top/up/outside/secret")),
        ),
        ("absolute link", "top/abs", _tar(_dir("top"), _link("top/abs", "/etc"))),
        ("link out, no write", "top/out", _tar(_dir("top"), _link("top/out", "../../../outside"))),
        (
            "link chain",
            "top/b",
            _tar(_dir("top"), _link("top/a", "x/../.."), _link("top/b", "a/../..")),
        ),
        (
            "link chain built later",
            "top/a",
            _tar(_dir("top"), _link("top/a", "b/../.."), _link("top/b", "c"), _link("top/c", "..")),
        ),
        ("CVE-2025-4517 long symlink chain", CHAIN_LINK, _tar(*symlink_chain())),
        (
            "link loop",
            "top/b",
            _tar(_dir("top"), _link("top/a", "b"), _link("top/b", "a"), _file("top/a/x")),
        ),
        (
            "hard link outside",
            "top/h",
            _tar(_dir("top"), _link("top/h", "../outside/secret", tarfile.LNKTYPE)),
        ),
        (
            "hard link absolute",
            "top/h",
            _tar(_dir("top"), _link("top/h", "/etc/hostname", tarfile.LNKTYPE)),
        ),
        (
            "hard link to a link",
            "top/h",
            _tar(_dir("top"), _link("top/s", "../x"), _link("top/h", "top/s", tarfile.LNKTYPE)),
        ),
        ("character device", "top/null", _tar(_dir("top"), _special("top/null", tarfile.CHRTYPE))),
        ("block device", "top/disk", _tar(_dir("top"), _special("top/disk", tarfile.BLKTYPE))),
        ("fifo", "top/pipe", _tar(_dir("top"), _special("top/pipe", tarfile.FIFOTYPE))),
        (
            "duplicate: file becomes a link",
            "top/f",
            _tar(
                _dir("top"),
                _file("top/f", b"x"),
                _link("top/f", "../../outside/secret"),
                _file("top/f"),
            ),
        ),
        (
            "duplicate: directory becomes a link",
            "top/d",
            _tar(
                _dir("top"), _dir("top/d"), _link("top/d", "../.."), _file("top/d/outside/secret")
            ),
        ),
        (
            "wrong depth: up -> .. merged away",
            "top/up",
            _tar(_dir("top"), _file("top/a.txt", b"a"), _link("top/up", "..")),
        ),
        (
            "wrong depth: up and back into the top",
            "top/l",
            _tar(_dir("top"), _file("top/x", b"x"), _link("top/l", "../top/x")),
        ),
        (
            "wrong depth: link to a sibling of the top",
            "top/s",
            _tar(_dir("top"), _link("top/s", "../other")),
        ),
        ("path over PATH_MAX", deep, _tar(_file(deep))),
        ("name over NAME_MAX", "top/" + "x" * 300, _tar(_dir("top"), _file("top/" + "x" * 300))),
    ]
