"""Hostile ``.tgz`` artifacts: every member that could land outside is refused, by name.

The corpus (``hostile_archives.py``) includes CVE-2025-4517's long symlink chain, which
``tarfile``'s own ``data`` filter lets through on the Pythons pyenv has here (3.11.7, 3.12.1,
3.13.0 predate the fix): our checks must not depend on it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from dflow.storage.archive import UnsafeArchive, extract_archive

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import hostile_archives  # noqa: E402

pytestmark = pytest.mark.fault

STORAGE = Path(extract_archive.__code__.co_filename).parent
OLD_PYTHONS = [
    Path.home() / ".pyenv" / "versions" / v / "bin" / "python" for v in ("3.11.7", "3.13.0")
]

#: runs the whole corpus in a bare interpreter: our three storage modules loaded as a package
#: of their own (they need nothing outside the standard library), tarfile as that Python has it
PROBE = textwrap.dedent(
    """
    import os, sys, tempfile, tarfile, io, importlib
    pkg, fault = sys.argv[1], sys.argv[2]
    sys.path[:0] = [pkg, fault]
    archive = importlib.import_module("probe.archive")
    import hostile_archives
    refused, escaped = 0, []
    for label, member, data in hostile_archives.corpus():
        tmp = tempfile.mkdtemp()
        os.makedirs(tmp + "/work/outside")
        with open(tmp + "/work/outside/secret", "w") as f:
            f.write("keep")
        try:
            archive.extract_archive(io.BytesIO(data), tmp + "/work/out", name=label, merge_top=True)
        except archive.UnsafeArchive:
            refused += 1
        with open(tmp + "/work/outside/secret") as f:
            if f.read() != "keep":
                escaped.append(label)
    # the same chain through tarfile's own data filter, to show the attack is live here
    tmp = tempfile.mkdtemp()
    os.makedirs(tmp + "/work/outside")
    with open(tmp + "/work/outside/secret", "w") as f:
        f.write("keep")
    try:
        with tarfile.open(fileobj=io.BytesIO(hostile_archives._tar(*hostile_archives.symlink_chain()))) as t:
            t.extractall(tmp + "/work/out", filter="data")
    except Exception:
        pass
    with open(tmp + "/work/outside/secret") as f:
        stdlib = "fooled" if f.read() != "keep" else "safe"
    print(refused, len(hostile_archives.corpus()), ",".join(escaped) or "-", stdlib)
    """
)


def _sentinel(tmp_path: Path) -> Path:
    outside = tmp_path / "work" / "outside"
    outside.mkdir(parents=True)
    (outside / "secret").write_text("keep")
    return outside / "secret"


def test_every_hostile_archive_is_refused_by_name_and_nothing_escapes(tmp_path):
    corpus = hostile_archives.corpus()
    got_through, badly_named = [], []
    for i, (label, member, data) in enumerate(corpus):
        case = tmp_path / str(i)
        secret = _sentinel(case)
        src = case / f"hostile-{i}.tar"
        src.write_bytes(data)
        try:
            extract_archive(str(src), str(case / "work" / "out"), merge_top=True)
            got_through.append(label)
        except UnsafeArchive as exc:
            text = str(exc)
            if f"'{member}'" not in text or str(src) not in text:
                badly_named.append(f"{label}: {text[:300]}")
        if secret.read_text() != "keep" or sorted(os.listdir(case / "work")) != ["out", "outside"]:
            got_through.append(f"{label} (wrote outside)")
    assert not os.path.exists("/tmp/dflow-hostile-absolute")
    assert (len(corpus) - len(got_through), got_through, badly_named) == (len(corpus), [], [])


def test_without_merging_the_top_away_links_and_chains_are_still_checked(tmp_path):
    # extract_archive used directly (no top directory merged away): only the merge-specific
    # cases may pass, and nothing is written outside
    merge_only = {
        "wrong depth: up -> .. merged away",
        "wrong depth: up and back into the top",
        "wrong depth: link to a sibling of the top",
    }
    through = []
    for i, (label, _member, data) in enumerate(hostile_archives.corpus()):
        secret = _sentinel(tmp_path / str(i))
        try:
            extract_archive(io.BytesIO(data), str(tmp_path / str(i) / "work" / "out"))
            through.append(label)
        except UnsafeArchive:
            pass
        assert secret.read_text() == "keep", label
    assert sorted(through) == sorted(merge_only)


@pytest.mark.parametrize("python", OLD_PYTHONS, ids=lambda p: p.parts[-3])
def test_the_corpus_is_refused_on_a_python_whose_tarfile_is_fooled(tmp_path, python):
    if not python.exists():
        pytest.skip(f"{python} is not installed (the in-process corpus test still runs)")
    pkg = tmp_path / "pkg" / "probe"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in ("archive.py", "paths.py", "errors.py"):
        shutil.copy(STORAGE / name, pkg / name)
    out = subprocess.run(
        [str(python), "-c", PROBE, str(pkg.parent), str(HERE)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    refused, total, escaped, stdlib = out
    assert (refused, escaped) == (total, "-")
    assert stdlib == "fooled"  # the chain is a live attack on this Python: we do not rely on it


def test_safe_links_and_hard_links_inside_still_extract(tmp_path):
    members = [
        hostile_archives._dir("top"),
        hostile_archives._file("top/real/a.txt", b"a"),
        hostile_archives._link("top/alias", "real"),
        hostile_archives._file("top/alias/b.txt", b"b"),  # through the archive's own link
        hostile_archives._link("top/same.txt", "top/real/a.txt", tarfile.LNKTYPE),
        hostile_archives._link("top/real/up", "../alias/b.txt"),
    ]
    src = tmp_path / "ok.tar"
    src.write_bytes(hostile_archives._tar(*members))
    dest = tmp_path / "out"
    assert extract_archive(str(src), str(dest), merge_top=True) == 2
    top = dest / "top"
    assert (top / "real" / "b.txt").read_bytes() == b"b"
    assert os.readlink(top / "alias") == "real"
    assert os.stat(top / "same.txt").st_ino == os.stat(top / "real" / "a.txt").st_ino
    assert (top / "real" / "up").read_bytes() == b"b"
