"""Run inside a provider pod (`python -c`, by scenario.py): claim a free Task's lease
for ANOTHER pod with this pod's own projected token, exactly as a provider claims for
itself. Prints the HTTP status, then the response body.

    python -c "$(cat foreign_claim.py)" NAMESPACE TASK OTHER_POD
"""

import datetime
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

from taskmill.api.protocol import claim
from taskmill.api.task import Task

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
JSON_PATCH = "application/json-patch+json"


def call(method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    request = urllib.request.Request(f"https://{host}:{port}{path}", data=body, method=method)
    with open(f"{SA}/token") as token:
        request.add_header("Authorization", "Bearer " + token.read())
    if body is not None:
        request.add_header("Content-Type", JSON_PATCH)
    context = ssl.create_default_context(cafile=f"{SA}/ca.crt")
    try:
        with urllib.request.urlopen(request, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main(namespace: str, name: str, other_pod: str) -> None:
    path = f"/apis/taskmill.io/v1alpha1/namespaces/{namespace}/tasks/{name}"
    _, got = call("GET", path)
    task = Task.model_validate(json.loads(got))
    now = datetime.datetime.now(datetime.UTC)
    ops = claim(
        task, other_pod, [task.spec.capability], now, duration_seconds=15, renew_interval_seconds=5
    )
    status, body = call("PATCH", f"{path}/status", json.dumps(ops).encode())
    print(status)
    print(body)


if __name__ == "__main__":
    main(*sys.argv[1:4])
