"""Reading kubeconfig files and the in-cluster service account, without a cluster."""

import base64
import datetime
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskmill.kube.config import ConfigError, in_cluster_connection, load_connection
from tests.harness.certs import PkiFiles, write_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    return write_pki(tmp_path_factory.mktemp("pki"), datetime.datetime.now(datetime.UTC))


def kubeconfig(
    path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None, name: str = "c"
) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": name,
        "clusters": [{"name": name, "cluster": cluster or {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_token_kubeconfig_sends_the_token(tmp_path: Path) -> None:
    # The old loader read the token under a key the kubernetes client no longer fills:
    # requests went out without it, as system:anonymous.
    conn = load_connection(str(kubeconfig(tmp_path / "config", {"token": "abc"})))
    assert conn.authorization() == "Bearer abc"
    assert conn.server == "https://127.0.0.1:6443"


def test_a_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("one\n")
    conn = load_connection(str(kubeconfig(tmp_path / "config", {"tokenFile": "token"})))
    assert conn.authorization() == "Bearer one"
    (tmp_path / "token").write_text("second\n")
    assert conn.authorization() == "Bearer second"


def test_basic_auth(tmp_path: Path) -> None:
    conn = load_connection(str(kubeconfig(tmp_path / "config", {"username": "u", "password": "p"})))
    assert conn.authorization() == f"Basic {base64.b64encode(b'u:p').decode()}"


def test_certificate_paths_are_relative_to_their_kubeconfig(pki: PkiFiles, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    for src, name in [(pki.ca_cert, "ca.crt"), (pki.admin_cert, "a.crt"), (pki.admin_key, "a.key")]:
        (tmp_path / "certs" / name).write_bytes(src.read_bytes())
    user = {"client-certificate": "certs/a.crt", "client-key": "certs/a.key"}
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority": "certs/ca.crt"}
    conn = load_connection(str(kubeconfig(tmp_path / "config", user, cluster)))
    assert isinstance(conn.ssl_context, ssl.SSLContext)
    assert conn.ssl_context.get_ca_certs()  # the CA was loaded
    assert conn.authorization() is None  # the client certificate authenticates


def test_kubeconfig_list_merges_and_the_first_file_wins(tmp_path: Path) -> None:
    first = kubeconfig(tmp_path / "a", {"token": "first"}, name="c")
    second = kubeconfig(tmp_path / "b", {"token": "second"}, name="c")
    doc = yaml.safe_load(second.read_text())
    doc["current-context"] = "other"
    second.write_text(yaml.safe_dump(doc))
    conn = load_connection(environ={"KUBECONFIG": f"{tmp_path / 'missing'}:{first}:{second}"})
    assert conn.authorization() == "Bearer first"


@pytest.mark.parametrize(
    ("user", "error"),
    [
        ({"auth-provider": {"name": "oidc"}}, "auth-provider"),
        ({"exec": {"command": "/nonexistent/plugin"}}, "exec credential plugin"),
    ],
)
def test_unusable_credentials_are_refused_at_load(
    tmp_path: Path, user: dict[str, Any], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        load_connection(str(kubeconfig(tmp_path / "config", user)))


def test_missing_context_is_refused(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", {"token": "x"})
    with pytest.raises(ConfigError, match="context 'nope'"):
        load_connection(str(path), context="nope")


def exec_plugin(tmp_path: Path, expires: str | None) -> Path:
    """A credential plugin that counts its runs and echoes what it was told."""
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, os, pathlib, sys\n"
        f"runs = pathlib.Path({str(tmp_path / 'runs')!r})\n"
        "n = int(runs.read_text()) + 1 if runs.exists() else 1\n"
        "runs.write_text(str(n))\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "status = {'token': f\"{os.environ['GREETING']}-{n}-{sys.argv[1]}\"}\n"
        f"if {expires!r}: status['expirationTimestamp'] = {expires!r}\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',"
        " 'status': status}))\n"
    )
    return script


@pytest.mark.parametrize(("expires", "second"), [(None, 1), ("2000-01-01T00:00:00Z", 2)])
def test_exec_plugins_give_tokens_and_run_again_when_they_expire(
    tmp_path: Path, expires: str | None, second: int
) -> None:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(exec_plugin(tmp_path, expires)), "arg"],
            "env": [{"name": "GREETING", "value": "hi"}],
            "interactiveMode": "Never",
        }
    }
    conn = load_connection(str(kubeconfig(tmp_path / "config", user)))
    assert conn.authorization() == f"Bearer hi-{second}-arg"  # an expired token: run again


def test_in_cluster_uses_the_service_account_files(pki: PkiFiles, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    conn = in_cluster_connection(env, tmp_path)
    assert conn.server == "https://10.0.0.1:443"
    assert conn.authorization() == "Bearer sa-token"
    (tmp_path / "token").write_text("rotated")
    assert conn.authorization() == "Bearer rotated"
    assert isinstance(conn.ssl_context, ssl.SSLContext)
    v6 = in_cluster_connection({**env, "KUBERNETES_SERVICE_HOST": "fd00::1"}, tmp_path)
    assert v6.server == "https://[fd00::1]:443"


def test_in_cluster_needs_its_environment_and_token(pki: PkiFiles, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster_connection({}, tmp_path)
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match="token file"):
        in_cluster_connection(env, tmp_path)


def test_in_cluster_is_chosen_inside_a_pod_without_kubeconfig(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match="token file /var/run/secrets"):
        load_connection(environ=env)  # (no service-account volume on this machine)
    path = kubeconfig(tmp_path / "config", {"token": "x"})
    assert load_connection(environ={**env, "KUBECONFIG": str(path)}).authorization() == "Bearer x"
