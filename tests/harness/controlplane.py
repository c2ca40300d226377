"""etcd + kube-apiserver + kube-controller-manager on loopback, for tests and `make cluster`.

Everything lives in one state directory:

    kubeconfig      admin kubeconfig (client certificate, O=system:masters)
    pki/            CA, serving and client certificates, service-account key pair
    etcd/           etcd's data, recreated on every start
    logs/<name>.log each component's output
    pids.json       the running components, for `python -m tests.harness down`

kube-controller-manager runs only the garbage collector, namespace,
service-account, job and cronjob controllers (Jobs create pods that never run: there
is no kubelet; tests write pod status themselves). The garbage collector re-reads
discovery every 30 s, so children of a kind whose CRD was created after it started may
take up to ~30 s longer to be collected.
"""

import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from tests.harness import node, procs
from tests.harness.certs import Issued, PkiFiles, kubeconfig_yaml, write_pki
from tests.harness.cluster import Cluster
from tests.harness.polling import PollTimeoutError, wait_for
from tests.harness.ports import free_ports
from tests.harness.versions import Binaries

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
START_TIMEOUT = 120.0
# Free ports can be taken by another process before we bind them: start again.
START_ATTEMPTS = 3
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    # batch/v1 Jobs and CronJobs driven for real, for the status adapters (docs/status.md).
    "job-controller",
    "cronjob-controller",
    "deployment-controller",
    "replicaset-controller",
)


class StartupError(RuntimeError):
    pass


class _PortTakenError(StartupError):
    pass


class Layout:
    """Paths inside a state directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.kubeconfig = self.root / "kubeconfig"
        self.pki = self.root / "pki"
        self.etcd_data = self.root / "etcd"
        self.logs = self.root / "logs"
        self.pids = self.root / "pids.json"

    @property
    def marker(self) -> str:
        """A string in every component's command line, to find strays of this state dir."""
        return f"{self.root}/"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def recorded_pids(self) -> dict[str, int]:
        try:
            pids: dict[str, int] = json.loads(self.pids.read_text())
        except FileNotFoundError:
            return {}
        return pids


def etcd_args(binaries: Binaries, layout: Layout, client_port: int, peer_port: int) -> list[str]:
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        str(binaries.etcd),
        "--name=taskmill",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=taskmill={peer}",
        # Test data is disposable: skipping fsync makes etcd cheap on a shared disk.
        "--unsafe-no-fsync=true",
    ]


def apiserver_args(
    binaries: Binaries, layout: Layout, pki: PkiFiles, etcd_port: int, secure_port: int
) -> list[str]:
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        f"--secure-port={secure_port}",
        # Without it the apiserver looks for a routable interface, absent on offline hosts.
        "--advertise-address=127.0.0.1",
        f"--cert-dir={layout.pki}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--authorization-mode=RBAC",
        "--service-cluster-ip-range=10.0.0.0/24",
        f"--service-account-issuer=https://127.0.0.1:{secure_port}",
        f"--service-account-key-file={pki.sa_public_key}",
        f"--service-account-signing-key-file={pki.sa_signing_key}",
        # There is no kubelet: pods never run, so skip the admission plugin that would
        # reject pods created before the service-account controller made `default`.
        "--disable-admission-plugins=ServiceAccount",
        # No node ever serves the `kubernetes` Service; spare the periodic endpoint writes.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def controller_manager_args(binaries: Binaries, layout: Layout) -> list[str]:
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={layout.kubeconfig}",
        f"--controllers={','.join(CONTROLLERS)}",
        "--leader-elect=false",
        "--secure-port=0",
        # The defaults (20 qps) make namespace deletion take seconds per namespace.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
    ]


def _reachable(probe: Callable[[], object]) -> bool:
    try:
        probe()
    except OSError:  # refused, reset, TLS not up yet, or an HTTP error status
        return False
    return True


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as response:
        body: bytes = response.read()
    return body


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class ControlPlane:
    """Starts the components in `state_dir` and stops them; a context manager.

    die_with_parent=True (pytest) ties the components to the calling thread: call
    start() from a thread that lives as long as the control plane should (the main
    thread). False (`python -m tests.harness up`) lets them outlive this process.
    """

    def __init__(
        self,
        state_dir: Path,
        binaries: Binaries,
        *,
        die_with_parent: bool,
        timeout: float = START_TIMEOUT,
    ) -> None:
        self.layout = Layout(state_dir)
        self.binaries = binaries
        self.die_with_parent = die_with_parent
        self.timeout = timeout
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        # How each component was started and is known ready: for restart().
        self._args: dict[str, list[str]] = {}
        self._ready: dict[str, Callable[[], bool]] = {}

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Cluster:
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return self._start_once()
            except _PortTakenError:
                self.stop()
                if attempt == START_ATTEMPTS:
                    raise
            except BaseException:  # including Ctrl-C: leave nothing running
                self.stop()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the components in reverse start order; idempotent."""
        for name in reversed(list(self._procs)):
            proc = self._procs.pop(name)
            procs.stop_group(proc.pid, procs.child_exited(proc))
        self.layout.pids.unlink(missing_ok=True)

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Signal a component's process group (SIGSTOP / SIGCONT: a hung component)."""
        os.killpg(self._procs[name].pid, sig)

    @contextlib.contextmanager
    def paused(self, name: str) -> Iterator[None]:
        """SIGSTOP a component for the duration of the block, then SIGCONT it: an outage
        in which its connections stay open but nothing answers (a hung API server)."""
        self.signal(name, signal.SIGSTOP)
        try:
            yield
        finally:
            self.signal(name, signal.SIGCONT)

    def restart(self, name: str) -> None:
        """Stop a component and start it again as it was, waiting until it is ready
        (etcd keeps its data: only a fresh start clears it)."""
        proc = self._procs[name]
        procs.stop_group(proc.pid, procs.child_exited(proc))
        self._launch(name, self._args[name])
        self._await(name, self._ready[name], time.monotonic() + self.timeout)
        self.layout.pids.write_text(json.dumps({n: p.pid for n, p in self._procs.items()}))

    def _start_once(self) -> Cluster:
        layout = self.layout
        deadline = time.monotonic() + self.timeout
        etcd_port, peer_port, secure_port = free_ports(3)
        shutil.rmtree(layout.etcd_data, ignore_errors=True)
        pki = write_pki(layout.pki, datetime.datetime.now(datetime.UTC))
        admin = Issued(pki.admin_cert.read_bytes(), pki.admin_key.read_bytes())
        layout.kubeconfig.write_text(
            kubeconfig_yaml(f"https://127.0.0.1:{secure_port}", pki.ca_cert.read_bytes(), admin)
        )
        cluster = Cluster(kubeconfig=layout.kubeconfig, bin_dir=self.binaries.kube_dir)

        self._launch("etcd", etcd_args(self.binaries, layout, etcd_port, peer_port))
        self._await(
            "etcd",
            lambda: _reachable(lambda: _http_get(f"http://127.0.0.1:{etcd_port}/health")),
            deadline,
        )
        self._launch("kube-apiserver", self._apiserver_args(pki, etcd_port, secure_port))
        self._await(
            "kube-apiserver",
            lambda: (
                _reachable(lambda: cluster.get("/readyz", timeout=2))
                and _reachable(lambda: cluster.get("/api/v1/namespaces/default", timeout=2))
            ),
            deadline,
        )
        self._launch("kube-controller-manager", self._controller_manager_args(pki))
        # The default ServiceAccount appears once the controllers are talking to the apiserver.
        self._await(
            "kube-controller-manager",
            lambda: _reachable(
                lambda: cluster.get("/api/v1/namespaces/default/serviceaccounts/default", timeout=2)
            ),
            deadline,
        )
        layout.pids.write_text(json.dumps({name: p.pid for name, p in self._procs.items()}))
        return cluster

    # Overridden by the kubelet mode (tests/harness/kubelet.py).
    def _apiserver_args(self, pki: PkiFiles, etcd_port: int, secure_port: int) -> list[str]:
        return apiserver_args(self.binaries, self.layout, pki, etcd_port, secure_port)

    def _controller_manager_args(self, pki: PkiFiles) -> list[str]:
        return controller_manager_args(self.binaries, self.layout)

    def _launch(self, name: str, args: list[str]) -> None:
        log = self.layout.log(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(f"--- {datetime.datetime.now(datetime.UTC).isoformat()} {' '.join(args)}\n")
        self._procs[name] = procs.spawn(args, log, die_with_parent=self.die_with_parent)
        self._args[name] = args

    def _await(self, name: str, ready: Callable[[], bool], deadline: float) -> None:
        self._ready[name] = ready
        proc = self._procs[name]
        log = self.layout.log(name)

        def check() -> bool:
            if proc.poll() is not None:
                tail = _tail(log)
                error = _PortTakenError if "address already in use" in tail else StartupError
                raise error(f"{name} exited with {proc.returncode}; {log}:\n{tail}")
            return ready()

        try:
            wait_for(check, timeout=max(deadline - time.monotonic(), 0), what=f"{name} ready")
        except PollTimeoutError as e:
            raise StartupError(f"{e}; {log}:\n{_tail(log)}") from None


def running_components(state_dir: Path) -> list[int]:
    """Component processes started from `state_dir`, in reverse start order.

    Found by command line rather than only via pids.json, which a crash or a
    reused pid can make wrong.
    """
    layout = Layout(state_dir)
    components = (*COMPONENTS, *node.COMPONENTS)
    live = set(procs.find(components, layout.marker))
    recorded = layout.recorded_pids()
    ordered = [recorded[n] for n in reversed(components) if recorded.get(n) in live]
    return ordered + sorted(live - set(ordered))


def stop_state_dir(state_dir: Path) -> list[int]:
    """Stop every component running from `state_dir`, and take down what a kubelet
    left of its pods; returns the pids stopped."""
    stopped = running_components(state_dir)
    for pid in stopped:
        procs.stop_group(pid, procs.pid_exited(pid))
    node.clean(state_dir)
    Layout(state_dir).pids.unlink(missing_ok=True)
    return stopped
