"""Where the API server is and how to authenticate: kubeconfig or in-cluster.

Read here rather than through the `kubernetes` client: taskmill used to copy the token
out of that client's Configuration, whose key for it changed (`authorization` became
`BearerToken`), and every token-authenticated request then went out as
system:anonymous. The formats read here are the stable, documented ones: kubeconfig
(tokens, token files, client certificates, basic auth, exec credential plugins) and
the service-account files a pod gets.
"""

import base64
import json
import os
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXEC_TIMEOUT_SECONDS = 60
# Renew an exec plugin's token this long before it expires, so no request carries a
# token that lapses in flight.
EXEC_REFRESH_MARGIN_SECONDS = 30


class ConfigError(Exception):
    """The kubeconfig or the in-cluster environment cannot be used."""


@dataclass(frozen=True)
class Impersonation:
    """Act as another user (kubectl's --as and --as-group); the server checks that the
    caller may impersonate them."""

    user: str
    groups: tuple[str, ...] = ()

    def headers(self) -> list[tuple[str, str]]:
        return [("Impersonate-User", self.user)] + [
            ("Impersonate-Group", group) for group in self.groups
        ]


@dataclass(frozen=True)
class Connection:
    server: str
    ssl_context: ssl.SSLContext | bool
    # Called per request: in-cluster and file tokens rotate, exec tokens expire.
    authorization: Callable[[], str | None]
    impersonate: Impersonation | None = None
    namespace: str = ""  # the kubeconfig context's namespace, if it names one


def load_connection(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
) -> Connection:
    """The kubeconfig ($KUBECONFIG, else ~/.kube/config) or, inside a pod, the SA token."""
    if (
        kubeconfig is None
        and "KUBERNETES_SERVICE_HOST" in environ
        and not environ.get("KUBECONFIG")
    ):
        return in_cluster_connection(environ)
    return kubeconfig_connection(kubeconfig_paths(kubeconfig, environ), context)


def in_cluster_connection(
    environ: Mapping[str, str] = os.environ, account_dir: Path = SERVICE_ACCOUNT_DIR
) -> Connection:
    """The pod's service account: the API server from the environment, token and CA
    from the projected volume. The kubelet rotates the token file; it is re-read when
    it changes."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    token = FileToken(account_dir / "token")
    token()  # fail now, not on the first request, when there is no token
    return Connection(
        server=f"https://{host}:{port}",
        ssl_context=_ssl_context(ca_file=account_dir / "ca.crt"),
        authorization=token,
    )


def kubeconfig_paths(kubeconfig: str | None, environ: Mapping[str, str]) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig)]
    listed = [Path(p) for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return listed
    return [Path(environ.get("HOME", str(Path.home()))) / ".kube" / "config"]


@dataclass(frozen=True)
class _Entry:
    """A named cluster or user, with the directory its relative paths are relative to."""

    fields: dict[str, Any]
    base: Path

    def path(self, key: str) -> Path | None:
        value = self.fields.get(key)
        return None if not value else self.base / os.path.expanduser(str(value))

    def data(self, key: str) -> bytes | None:
        value = self.fields.get(f"{key}-data")
        if value:
            return base64.b64decode(value)
        path = self.path(key)
        return None if path is None else path.read_bytes()


def kubeconfig_connection(paths: list[Path], context: str | None = None) -> Connection:
    """Merge kubeconfig files as kubectl does (the first to name an entry wins)."""
    sections: dict[str, dict[str, _Entry]] = {"clusters": {}, "users": {}, "contexts": {}}
    current = ""
    read = 0
    for path in paths:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            continue
        read += 1
        current = current or str(doc.get("current-context") or "")
        for section, entries in sections.items():
            kind = section[:-1]  # clusters -> cluster
            for named in doc.get(section) or []:
                entries.setdefault(named["name"], _Entry(named.get(kind) or {}, path.parent))
    if not read:
        raise ConfigError(f"no kubeconfig found at {os.pathsep.join(map(str, paths))}")
    name = context or current
    if name not in sections["contexts"]:
        raise ConfigError(f"kubeconfig context {name!r} not found")
    ctx = sections["contexts"][name].fields
    try:
        cluster = sections["clusters"][ctx["cluster"]]
    except KeyError:
        raise ConfigError(f"cluster of kubeconfig context {name!r} not found") from None
    user = sections["users"].get(ctx.get("user", ""), _Entry({}, Path()))
    return replace(_connection(cluster, user), namespace=str(ctx.get("namespace") or ""))


def _connection(cluster: _Entry, user: _Entry) -> Connection:
    server = str(cluster.fields.get("server", "")).rstrip("/")
    if not server:
        raise ConfigError("the kubeconfig cluster has no server")
    if "auth-provider" in user.fields:
        raise ConfigError("kubeconfig auth-provider plugins are not supported; use exec")
    authorization: Callable[[], str | None] = _none
    cert: bytes | None = user.data("client-certificate")
    key: bytes | None = user.data("client-key")
    if user.fields.get("token"):
        authorization = _constant(f"Bearer {user.fields['token']}")
    elif user.fields.get("tokenFile"):
        token_file = user.path("tokenFile")
        assert token_file is not None
        authorization = FileToken(token_file)
    elif user.fields.get("username"):
        basic = f"{user.fields['username']}:{user.fields.get('password', '')}".encode()
        authorization = _constant(f"Basic {base64.b64encode(basic).decode()}")
    elif user.fields.get("exec"):
        plugin = ExecPlugin(user.fields["exec"], user.base, cluster)
        credential = plugin.credential()
        if credential.cert is not None:  # a client certificate instead of (or with) a token
            cert, key = credential.cert, credential.key
        authorization = plugin.authorization
    return Connection(
        server=server,
        ssl_context=_ssl_context(
            ca_file=cluster.path("certificate-authority"),
            ca_data=cluster.fields.get("certificate-authority-data"),
            insecure=bool(cluster.fields.get("insecure-skip-tls-verify")),
            cert=cert,
            key=key,
            https=server.startswith("https"),
        ),
        authorization=authorization,
    )


def _none() -> str | None:
    return None


def _constant(value: str) -> Callable[[], str | None]:
    return lambda: value


class FileToken:
    """A bearer token read from a file, again whenever the file changes (rotation)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._header = ""

    def __call__(self) -> str | None:
        try:
            st = self._path.stat()
        except FileNotFoundError:
            raise ConfigError(f"token file {self._path} not found") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._header = f"Bearer {self._path.read_text().strip()}"
            self._stamp = stamp
        return self._header


@dataclass(frozen=True)
class ExecCredential:
    token: str | None
    cert: bytes | None
    key: bytes | None
    expires: float | None  # time.time() seconds; None: never


class ExecPlugin:
    """A client-go credential plugin (client.authentication.k8s.io, v1 or v1beta1).

    Run again when its token is about to expire. It runs synchronously: plugins answer
    from their cache in milliseconds and are called about once per token lifetime.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        base: Path,
        cluster: _Entry,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._spec = spec
        self._base = base
        self._cluster = cluster
        self._wall = wall
        self._cached: ExecCredential | None = None

    def authorization(self) -> str | None:
        token = self.credential().token
        return None if token is None else f"Bearer {token}"

    def credential(self) -> ExecCredential:
        cached = self._cached
        if cached is None or (
            cached.expires is not None
            and self._wall() >= cached.expires - EXEC_REFRESH_MARGIN_SECONDS
        ):
            cached = self._cached = self._run()
        return cached

    def _run(self) -> ExecCredential:
        spec = self._spec
        api_version = spec.get("apiVersion", "client.authentication.k8s.io/v1")
        command = str(spec["command"])
        if os.sep in command and not os.path.isabs(command):
            command = str(self._base / command)  # relative to the kubeconfig, as client-go
        info: dict[str, Any] = {"interactive": False}
        if spec.get("provideClusterInfo"):
            cluster = self._cluster
            info["cluster"] = {
                "server": cluster.fields.get("server"),
                "certificate-authority-data": base64.b64encode(
                    cluster.data("certificate-authority") or b""
                ).decode(),
                "insecure-skip-tls-verify": bool(cluster.fields.get("insecure-skip-tls-verify")),
            }
        env = {
            **os.environ,
            **{e["name"]: e["value"] for e in spec.get("env") or []},
            "KUBERNETES_EXEC_INFO": json.dumps(
                {"apiVersion": api_version, "kind": "ExecCredential", "spec": info}
            ),
        }
        try:
            done = subprocess.run(
                [command, *map(str, spec.get("args") or [])],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=EXEC_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ConfigError(f"exec credential plugin {command}: {e}") from None
        if done.returncode != 0:
            raise ConfigError(
                f"exec credential plugin {command} exited {done.returncode}: "
                f"{done.stderr.decode(errors='replace').strip()}"
            )
        status = (json.loads(done.stdout) or {}).get("status") or {}
        expires = status.get("expirationTimestamp")
        cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
        return ExecCredential(
            token=status.get("token") or None,
            cert=cert.encode() if cert else None,
            key=key.encode() if key else None,
            expires=None
            if not expires
            else datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp(),
        )


def _ssl_context(
    *,
    ca_file: Path | None = None,
    ca_data: str | None = None,
    insecure: bool = False,
    cert: bytes | None = None,
    key: bytes | None = None,
    https: bool = True,
) -> ssl.SSLContext | bool:
    if not https:
        return False
    ctx = ssl.create_default_context(
        cafile=str(ca_file) if ca_file else None,
        cadata=base64.b64decode(ca_data).decode() if ca_data else None,
    )
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        # The ssl module loads certificates from files only: a private directory, briefly.
        with tempfile.TemporaryDirectory(prefix="taskmill-tls-") as tmp:
            cert_file, key_file = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            cert_file.write_bytes(cert)
            key_file.write_bytes(key or b"")
            ctx.load_cert_chain(cert_file, key_file if key else None)
    return ctx
