"""Pytest fixtures of the conformance harness, imported by the conftests that need them.

``seaweedfs`` (session): a real S3 server; ``argo_repository`` (session): its bucket as the
emulated cluster's artifact repository; ``emulated_argo``: an emulated Argo cluster
(controller + pods), closed after the test, whose served workflows must match the swagger;
``emulated_server``: the stand-in Argo Server in front of it; ``emulated_kube``: its stand-in
kube-apiserver.
"""

from __future__ import annotations

from typing import Any

import pytest

_shared: dict[str, Any] = {"server": None, "users": 0}


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real S3 server (SeaweedFS), one per test process however many conftests import this
    fixture; stopped by PID when the last of them is done."""
    from dflow.testing.seaweedfs import start_seaweedfs

    if _shared["server"] is None:
        _shared["server"] = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    _shared["users"] += 1
    yield _shared["server"]
    _shared["users"] -= 1
    if _shared["users"] == 0:
        _shared["server"].stop()
        _shared["server"] = None


@pytest.fixture(scope="session")
def argo_repository(seaweedfs):
    """The emulated cluster's artifact repository: a fresh bucket on the session's server."""
    from dflow_storage_minio import MinioClient

    from conformance.pod import ArtifactRepository

    bucket = "argo-artifacts"
    # an existing bucket is kept: two conftests may both ask for it
    MinioClient(
        endpoint=seaweedfs.endpoint,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
        secure=False,
        bucket_name=bucket,
    ).create_bucket()
    return ArtifactRepository.for_seaweedfs(seaweedfs, bucket)


@pytest.fixture
def emulated_kube():
    """The stand-in kube-apiserver of the emulated cluster (ConfigMaps, Secrets), accepting
    the Argo token as dflow's Kubernetes client sends it with ``k8s_api_server``."""
    from argo_server import TOKEN
    from k8s_server import FakeKubeServer

    with FakeKubeServer(token=TOKEN) as kube:
        yield kube


@pytest.fixture
def emulated_argo(argo_repository, emulated_kube):
    """An emulated Argo cluster (controller + pods) on the session's SeaweedFS; memoize
    caches are ConfigMaps of the stand-in kube-apiserver."""
    from conformance.server import EmulatedArgo

    with EmulatedArgo(argo_repository, kube_objects=emulated_kube.objects) as emulated:
        yield emulated
    assert emulated.violations == [], "responses broke the Argo API spec"


@pytest.fixture
def emulated_server(emulated_argo):
    """The stand-in Argo Server in front of the emulated cluster."""
    from argo_server import TOKEN, FakeArgoServer

    with FakeArgoServer(token=TOKEN, emulator=emulated_argo) as server:
        yield server
    assert server.violations == [], "requests broke the Argo API spec"


_summary_written = []


def write_summary(terminalreporter) -> None:
    """The controller half's figures, once per session (both conftests call this)."""
    import sys

    controller = sys.modules.get("conformance.controller")
    runs = list(getattr(controller, "RUNS", []))
    if not runs or _summary_written:
        return
    _summary_written.append(True)
    phases: dict[str, int] = {}
    for _, _, phase in runs:
        phases[phase] = phases.get(phase, 0) + 1
    podrun = sys.modules.get("conformance.podrun")
    versions: dict[str, int] = {}
    for version, *_ in getattr(podrun, "RUNS", []):
        versions[version] = versions.get(version, 0) + 1
    terminalreporter.write_line(
        f"Argo conformance harness: the emulated controller ran {len(runs)} workflows "
        f"({sum(t for t, _, _ in runs)} templates, {sum(n for _, n, _ in runs)} nodes; "
        + ", ".join(f"{p} {n}" for p, n in sorted(phases.items()))
        + f"), pods by image Python: {dict(sorted(versions.items()))}"
    )
