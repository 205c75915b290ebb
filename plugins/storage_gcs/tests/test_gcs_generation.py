"""Ranged downloads are pinned to one generation of the object.

The emulator neither names the generation of a download nor honours ``generation=``, so the
pinning never engaged against it; these tests run it with that GCS behaviour added
(``GCSEmulator(generations=True)``), watch the requests the client sends, and overwrite the
object between the first response and the ranged parts (the request check is the one that
fails without pinning; a mixed download would also fail the checksum).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

import pytest

MiB = 1024 * 1024


@pytest.fixture
def sliced_client(make_client, gcs_generations):
    return make_client(
        endpoint=gcs_generations.endpoint,
        sliced_download_threshold=MiB,
        download_part_size=MiB,
        download_workers=3,
    )


def _watch(client, on_first=None):
    """Record ``(url, Range, x-goog-generation)`` of each media download the client sends."""
    seen: list[tuple[str, str | None, str | None]] = []

    def record(resp, *args, **kwargs):
        if "/download/storage/v1/" in resp.request.url:
            seen.append(
                (
                    resp.request.url,
                    resp.request.headers.get("Range"),
                    resp.headers.get("x-goog-generation"),
                )
            )
            if len(seen) == 1 and on_first is not None:
                on_first()

    client.downloader.session.hooks["response"].append(record)
    return seen, lambda: client.downloader.session.hooks["response"].remove(record)


def test_every_ranged_part_asks_for_the_generation_of_the_first_response(sliced_client, tmp_path):
    data = os.urandom(3 * MiB + 5)
    key = f"gen-{os.urandom(4).hex()}/f"
    (tmp_path / "f").write_bytes(data)
    sliced_client.upload(key, str(tmp_path / "f"))
    seen, stop = _watch(sliced_client)
    try:
        sliced_client.download(key, str(tmp_path / "out"))
    finally:
        stop()
    assert (tmp_path / "out").read_bytes() == data
    stored = str(sliced_client.bucket.get_blob(key).generation)
    first, *ranged = seen
    assert first[1] is None and first[2] == stored  # the whole-object GET names the generation
    assert sorted(r[1] for r in ranged) == [
        "bytes=1048576-2097151",
        "bytes=2097152-3145727",
        "bytes=3145728-3145732",
    ]
    pinned = [parse_qs(urlparse(url).query).get("generation") for url, _, _ in ranged]
    assert pinned == [[stored]] * 3


def test_an_object_overwritten_during_a_sliced_download_is_never_mixed(sliced_client, tmp_path):
    old, new = os.urandom(3 * MiB + 5), os.urandom(3 * MiB + 5)
    key = f"gen-{os.urandom(4).hex()}/f"
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    sliced_client.upload(key, str(tmp_path / "old"))
    overwritten = []

    def overwrite():  # after the first response: the ranged parts come after it
        if not overwritten:
            sliced_client.upload(key, str(tmp_path / "new"))
            overwritten.append(True)

    seen, stop = _watch(sliced_client, overwrite)
    try:
        sliced_client.download(key, str(tmp_path / "out"))
    except Exception as exc:  # refused: it must say which object
        assert key in str(exc)
    else:
        assert (tmp_path / "out").read_bytes() in (old, new)  # one version, whole
    finally:
        stop()
    assert overwritten
