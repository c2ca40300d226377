"""Where the API server is and how to authenticate: kubeconfig or in-cluster."""

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config


@dataclass(frozen=True)
class Connection:
    server: str
    ssl_context: ssl.SSLContext | bool
    # Called per request: in-cluster tokens rotate, kubeconfig tokens may be absent.
    authorization: Callable[[], str | None]


def load_connection(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Read the kubeconfig ($KUBECONFIG, ~/.kube/config) or, inside a pod, the SA token."""
    cfg = k8s_client.Configuration()
    if (
        kubeconfig is None
        and "KUBERNETES_SERVICE_HOST" in os.environ
        and not os.environ.get("KUBECONFIG")
    ):
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=cfg
        )
    return Connection(
        server=cfg.host.rstrip("/"),
        ssl_context=_ssl_context(cfg),
        authorization=lambda: cfg.get_api_key_with_prefix("authorization"),
    )


def _ssl_context(cfg: k8s_client.Configuration) -> ssl.SSLContext | bool:
    if not cfg.host.startswith("https"):
        return False
    if not cfg.verify_ssl:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    return ctx
