"""kwok as the kubelet of one fake node: pods bound to it (spec.nodeName, no scheduler
needed) go Running and Ready at once, and are removed once deleted.

kwok is built from the Go module proxy by `hack/build-control-plane.sh kwok`; callers
that can do without Running pods check `kwok_binary()` first.
"""

import subprocess
from pathlib import Path

from tests.harness import procs
from tests.harness.versions import cache_dir, pinned_versions

NODE = "kwok-node-0"

# Minimal kwok stages (kwok >= 0.7 ships none built in): a node that is Ready, pods
# that start and, when a Job owns them, succeed.
STAGES = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ["True"]
  next:
    statusTemplate: |
      conditions:
      - type: Ready
        status: "True"
        reason: KubeletReady
        message: kwok
        lastHeartbeatTime: {{ Now | Quote }}
        lastTransitionTime: {{ Now | Quote }}
      allocatable: {cpu: "1000", memory: 1Ti, pods: "100000"}
      capacity: {cpu: "1000", memory: 1Ti, pods: "100000"}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-run}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Pending]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Running
      startTime: {{ $now | Quote }}
      conditions:
      - {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: true
        restartCount: 0
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-succeed}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: '.metadata.ownerReferences.[].kind', operator: In, values: [Job]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Succeeded
      conditions:
      - {type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: false
        restartCount: 0
        state:
          terminated:
            exitCode: 0
            reason: Completed
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-remove}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: Exists}
  next:
    finalizers: {empty: true}
    delete: true
"""


def kwok_binary() -> Path:
    return cache_dir() / "bin" / f"kwok-v{pinned_versions()['KWOK_VERSION']}" / "kwok"


def node_manifest() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"type": "kwok"}},
    }


def start_kwok(kubeconfig: Path, log_dir: Path) -> "subprocess.Popen[bytes]":
    """kwok managing NODE with the stages above; stop it with procs.stop_group."""
    stages = log_dir / "kwok-stages.yaml"
    stages.parent.mkdir(parents=True, exist_ok=True)
    stages.write_text(STAGES)
    args: list[str | Path] = [kwok_binary(), f"--kubeconfig={kubeconfig}", f"--config={stages}"]
    args.append(f"--manage-single-node={NODE}")
    return procs.spawn(args, log_dir / "kwok.log", die_with_parent=True)
