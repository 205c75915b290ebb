"""Where the Kubernetes credentials come from, through the ``kubernetes`` package's loaders,
against the stand-in kube-apiserver (k8s_server, which checks the bearer token and bodies):
an explicit server and token, a kubeconfig (file, ``$KUBECONFIG`` list, ``~/.kube/config``)
with a token, CA data or a real ``exec`` credential plugin, and a pod's service account."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import sys

import pytest
from dflow.engine import EngineError
from dflow_engine_argo.config import ArgoConfig
from dflow_engine_argo.k8s import KubeClient, opaque_secret
from k8s_server import TOKEN, FakeKubeServer

SECRET = opaque_secret("db", {"password": "hunter2"})
# an exec credential plugin as EKS/GKE ship them: reads KUBERNETES_EXEC_INFO, prints an
# ExecCredential; records each run (and the apiVersion it was asked for) in a file
PLUGIN = """#!{python}
import json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
with open(sys.argv[1], "a") as f:
    f.write(info["apiVersion"] + "\\n")
if os.environ.get("FAIL"):
    sys.stderr.write(os.environ["FAIL"] + "\\n")
    sys.exit(1)
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {{"token": os.environ["TOKEN"],
                             "expirationTimestamp": sys.argv[2]}}}}))
"""


@pytest.fixture
def kube_tls(self_signed_cert):
    with FakeKubeServer(tls=self_signed_cert) as server:
        yield server


def _config(**k8s) -> ArgoConfig:
    k8s.setdefault("k8s_api_server", None)
    k8s.setdefault("k8s_config_file", None)
    return ArgoConfig(host="http://127.0.0.1:1", namespace="argo", token=None, backoff=0.01, **k8s)


def _kubeconfig(server, ca_file, user, current="test"):
    ca = base64.b64encode(open(ca_file, "rb").read()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "contexts": [
            {"name": "other", "context": {"cluster": "nowhere", "user": "u"}},
            {"name": "test", "context": {"cluster": "c", "user": "u"}},
        ],
        "clusters": [
            {"name": "c", "cluster": {"server": server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": "u", "user": user}],
    }


def _plugin(tmp_path, expires: datetime.datetime, fail: str = "") -> tuple[dict, object]:
    script = tmp_path / "credential-plugin"
    script.write_text(PLUGIN.format(python=sys.executable))
    script.chmod(0o755)
    runs = tmp_path / "runs"
    env = [{"name": "TOKEN", "value": TOKEN}] + ([{"name": "FAIL", "value": fail}] if fail else [])
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(script),
            "args": [str(runs), expires.strftime("%Y-%m-%dT%H:%M:%SZ")],
            "env": env,
            "interactiveMode": "Never",
        }
    }
    return user, runs


def _runs(runs) -> list[str]:
    return runs.read_text().split() if runs.exists() else []


def _in(hours: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=hours)


def test_exec_credential_plugin(kube_tls, self_signed_cert, tmp_path):
    user, runs = _plugin(tmp_path, _in(1))
    path = tmp_path / "config"
    path.write_text(json.dumps(_kubeconfig(kube_tls.url, self_signed_cert[0], user)))
    kube = KubeClient.from_config(_config(k8s_config_file=str(path)), environ={})
    assert kube.origin == f"k8s_config_file {path}" and kube.server == kube_tls.url
    kube.apply(SECRET)
    assert kube.get("Secret", "db")["data"]["password"] == base64.b64encode(b"hunter2").decode()
    assert _runs(runs) == ["client.authentication.k8s.io/v1"]  # once: the token is still good


def test_expiring_exec_token_is_fetched_again(kube_tls, self_signed_cert, tmp_path):
    user, runs = _plugin(tmp_path, _in(0))  # expires now: stale before the first call
    path = tmp_path / "config"
    path.write_text(json.dumps(_kubeconfig(kube_tls.url, self_signed_cert[0], user)))
    kube = KubeClient.from_config(_config(k8s_config_file=str(path)), environ={})
    kube.apply(SECRET)
    kube.get("Secret", "db")
    assert len(_runs(runs)) >= 3  # at load, then before each of the two calls


def test_failing_exec_plugin_says_why(kube_tls, self_signed_cert, tmp_path):
    user, _ = _plugin(tmp_path, _in(1), fail="error: SSO session expired; run `aws sso login`")
    path = tmp_path / "config"
    path.write_text(json.dumps(_kubeconfig(kube_tls.url, self_signed_cert[0], user)))
    handlers = list(logging.getLogger().handlers)
    with pytest.raises(EngineError) as info:
        KubeClient.from_config(_config(k8s_config_file=str(path)), environ={})
    msg = str(info.value)
    assert msg.startswith(
        f"k8s_config_file {path}: the current context's user has no "
        "credentials: exec: process returned 1. error: SSO session expired"
    )
    assert "run its command by hand" in msg
    assert (
        logging.getLogger().handlers == handlers
    )  # the loader's errors were collected, then let go
    assert kube_tls.requests == []


def test_kubeconfig_list_in_KUBECONFIG_is_merged(kube_tls, self_signed_cert, tmp_path):
    full = _kubeconfig(kube_tls.url, self_signed_cert[0], {"token": TOKEN})
    contexts = {k: full[k] for k in ("apiVersion", "kind", "current-context", "contexts")}
    rest = {k: full[k] for k in ("apiVersion", "kind", "clusters", "users")}
    (tmp_path / "a").write_text(json.dumps(contexts))
    (tmp_path / "b").write_text(json.dumps(rest))
    value = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    kube = KubeClient.from_config(_config(), environ={"KUBECONFIG": value})
    assert kube.origin == f"KUBECONFIG={value}"
    kube.apply(SECRET)
    assert kube_tls.get("argo", "secrets", "db")


def test_home_kubeconfig_then_service_account(kube_tls, self_signed_cert, tmp_path):
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(
        json.dumps(_kubeconfig(kube_tls.url, self_signed_cert[0], {"token": TOKEN}))
    )
    kube = KubeClient.from_config(_config(), environ={"HOME": str(home)})
    assert kube.origin == f"kubeconfig {home}/.kube/config"
    kube.apply(SECRET)

    # no kubeconfig: the pod's service account (token and CA files Kubernetes mounts)
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(TOKEN)
    (sa / "ca.crt").write_bytes(open(self_signed_cert[0], "rb").read())
    port = kube_tls.url.rsplit(":", 1)[1]
    pod_env = {
        "HOME": str(tmp_path),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": port,
    }
    kube = KubeClient.from_config(_config(), environ=pod_env, service_account_dir=str(sa))
    assert kube.origin == f"the pod's service account ({sa})"
    assert kube.server == kube_tls.url
    kube.apply(opaque_secret("db", {"password": "rotated"}))
    stored = kube_tls.get("argo", "secrets", "db")
    assert base64.b64decode(stored["data"]["password"]) == b"rotated"

    (sa / "token").unlink()
    with pytest.raises(
        EngineError,
        match=r"cannot use the pod's service account .*token file "
        r"does not exist.*automountServiceAccountToken",
    ):
        KubeClient.from_config(_config(), environ=pod_env, service_account_dir=str(sa))


def test_explicit_server_wins_over_kubeconfig(tmp_path):
    # pydflow's rule: k8s_api_server (with the token) first, the kubeconfig otherwise
    with FakeKubeServer(token="argo-token") as server:
        config = _config(k8s_api_server=server.url, k8s_config_file=str(tmp_path / "absent"))
        config.token = "argo-token"
        kube = KubeClient.from_config(config, environ={})
        assert (kube.origin, kube.server) == ("k8s_api_server", server.url)
        kube.apply(SECRET)


def test_nothing_configured_lists_every_way(tmp_path):
    with pytest.raises(EngineError) as info:
        KubeClient.from_config(_config(), environ={"HOME": str(tmp_path)})
    msg = str(info.value)
    for way in (
        "k8s_api_server (DFLOW_K8S_API_SERVER, with token)",
        "k8s_config_file",
        "KUBECONFIG",
        f"there is no {tmp_path}/.kube/config",
        "not a pod",
    ):
        assert way in msg


def test_bad_kubeconfigs_are_named(tmp_path):
    with pytest.raises(EngineError, match=r"k8s_config_file .*/absent: no such file"):
        KubeClient.from_config(_config(k8s_config_file=str(tmp_path / "absent")), environ={})
    path = tmp_path / "config"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "contexts": [],
                "clusters": [],
                "users": [],
            }
        )
    )
    with pytest.raises(
        EngineError,
        match=r"cannot use k8s_config_file .*config: .*x.*"
        r"kubectl config view",
    ):
        KubeClient.from_config(_config(k8s_config_file=str(path)), environ={})


def test_kube_backoff_doubles_between_attempts():
    sleeps: list[float] = []
    with FakeKubeServer() as server:
        kube = KubeClient(server.url, "argo", TOKEN, sleep=sleeps.append)
        server.fail(503, times=3)
        kube.apply(SECRET)
        assert sleeps == [0.5, 1.0, 2.0] and server.get("argo", "secrets", "db")
        server.fail(500, times=4)
        with pytest.raises(EngineError, match="HTTP 500"):
            kube.get("Secret", "db")
        assert sleeps[3:] == [0.5, 1.0, 2.0]


def test_connecting_imports_the_packages_only_when_needed():
    import subprocess

    code = (
        "import sys\n"
        "from dflow_engine_argo.config import ArgoConfig\n"
        "from dflow_engine_argo.engine import ArgoEngine\n"
        "from dflow_engine_argo.k8s import KubeClient\n"
        "e = ArgoEngine(ArgoConfig(host='http://127.0.0.1:1', k8s_api_server='http://127.0.0.1:1'))\n"
        "k = e.kube(); c = e.client\n"
        "print(sorted(m for m in ('kubernetes', 'argo_workflows', 'urllib3') if m in sys.modules))\n"
        "c.sdk(); k.core()\n"
        "print(sorted(m for m in ('kubernetes', 'argo_workflows', 'urllib3') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "['argo_workflows', 'kubernetes', 'urllib3']"]
