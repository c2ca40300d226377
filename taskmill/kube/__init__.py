"""A small async Kubernetes API client shared by the operator and the providers.

Everything taskmill reads and writes goes through it: requests are few and explicit
(JSON Patch with `test` ops, which the generated `kubernetes` client cannot send on
older versions) and cheap, and every collection is followed by one reflector
(taskmill.kube.reflector).
"""

from taskmill.kube.api import KubeApi
from taskmill.kube.client import ApiError, GoneError, Kube, WatchEvent
from taskmill.kube.config import Connection, load_connection
from taskmill.kube.paths import ResourcePath

__all__ = [
    "ApiError",
    "Connection",
    "GoneError",
    "Kube",
    "KubeApi",
    "ResourcePath",
    "WatchEvent",
    "load_connection",
]
