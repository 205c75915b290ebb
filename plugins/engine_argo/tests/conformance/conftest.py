"""Fixtures of the pod emulation's tests: a fresh bucket per test on the session's SeaweedFS
(``seaweedfs`` comes from ../conftest.py)."""

from __future__ import annotations

import os
import uuid

import pytest


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the pod emulation needs root (mount namespaces)")


@pytest.fixture
def repo(seaweedfs):
    """An artifact repository of its own for the test: a fresh bucket of the session's server."""
    from conformance.pod import ArtifactRepository

    _needs_root()
    repo = ArtifactRepository.for_seaweedfs(seaweedfs, f"argo-{uuid.uuid4().hex[:10]}")
    s3_of(repo).create_bucket(Bucket=repo.bucket)
    return repo


def s3_of(repo):
    """A boto3 S3 client of ``repo``'s server (for tests to put and read objects)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=f"http://{repo.endpoint}",
        aws_access_key_id=repo.access_key,
        aws_secret_access_key=repo.secret_key,
        region_name=repo.region,
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def s3(repo):
    """A boto3 client of the test's repository; ``s3.bucket`` is its bucket."""
    client = s3_of(repo)
    client.bucket = repo.bucket
    return client


def pytest_terminal_summary(terminalreporter):
    """The figures of the session: how many pods the emulation ran, at which Python versions."""
    import sys
    from collections import Counter

    podrun = sys.modules.get("conformance.podrun")
    runs = list(getattr(podrun, "RUNS", []))
    if not runs:
        return
    versions = Counter(v for v, _, _ in runs)
    phases = Counter(p for _, _, p in runs)
    by_version = ", ".join(f"{v}: {n}" for v, n in sorted(versions.items(), key=_version_key))
    terminalreporter.write_line(
        f"Argo conformance harness: {len(runs)} pods (Python {by_version}); "
        + ", ".join(f"{p} {n}" for p, n in sorted(phases.items()))
    )


def _version_key(item):
    version = item[0]
    return (1, ()) if version == "none" else (0, tuple(int(x) for x in version.split(".")))


from dflow.testing.slurm_fixtures import job_home, local_slurm, slurm_sshd  # noqa: E402, F401
