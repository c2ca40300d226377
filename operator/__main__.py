"""`python -m taskmill.operator`: the operator process."""

import argparse
import asyncio
import os
import sys

from taskmill.operator import logs
from taskmill.operator.election import default_identity
from taskmill.operator.metrics import OperatorMetrics
from taskmill.operator.reconciler import Settings
from taskmill.operator.runtime import Config, run

from taskmill.metrics import BindAddressError, parse_bind_address, serve


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(prog="taskmill-operator", description=__doc__)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", help="watch one namespace (default: $POD_NAMESPACE)")
    scope.add_argument("--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument("--liveness-port", type=int, help="serve /healthz on this port")
    parser.add_argument(
        "--metrics-bind-address",
        default=":8080",
        help="serve Prometheus metrics at /metrics on HOST:PORT or :PORT; 0 turns them "
        "off (default %(default)s)",
    )
    parser.add_argument(
        "--max-live-tasks",
        type=int,
        default=Settings.max_live_tasks,
        help="most unfinished Tasks per job at once (default %(default)s)",
    )
    parser.add_argument(
        "--lease-grace-seconds",
        type=float,
        default=Settings.grace_seconds,
        help="grace added to a lease's duration before it expires (default %(default)s)",
    )
    parser.add_argument(
        "--cancel-grace-seconds",
        type=float,
        default=Settings.cancel_grace_seconds,
        help="how long a holder has to acknowledge a cancel before the operator ends its "
        "lease; longer than the providers' kill grace (default %(default)s)",
    )
    parser.add_argument(
        "--review-status-policies",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compile every StatusPolicy and report it in its status; needs cluster-wide "
        "read of statuspolicies (default %(default)s)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--identity",
        help="leader-election identity, unique per process (default: pod or host name "
        "plus a random suffix)",
    )
    parser.add_argument(
        "--leader-lease-namespace",
        help="namespace of the taskmill-operator Lease (default: the watched namespace, "
        "else $POD_NAMESPACE, else default)",
    )
    parser.add_argument(
        "--leader-lease-seconds", type=int, default=15, help="leader Lease duration"
    )
    args = parser.parse_args(argv)
    try:
        metrics_address = parse_bind_address(args.metrics_bind_address)
    except BindAddressError as e:
        parser.error(str(e))
    pod_namespace = os.environ.get("POD_NAMESPACE")
    namespace = None if args.all_namespaces else (args.namespace or pod_namespace or "default")
    logs.configure(args.log_format)
    return Config(
        namespace=namespace,
        identity=args.identity or default_identity(),
        lease_namespace=args.leader_lease_namespace or namespace or pod_namespace or "default",
        liveness_port=args.liveness_port,
        metrics_address=metrics_address,
        leader_lease_seconds=args.leader_lease_seconds,
        review_status_policies=args.review_status_policies,
        settings=Settings(
            max_live_tasks=args.max_live_tasks,
            grace_seconds=args.lease_grace_seconds,
            cancel_grace_seconds=args.cancel_grace_seconds,
        ),
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    metrics = OperatorMetrics()
    if config.metrics_address is not None:
        try:
            serve(config.metrics_address, metrics.registry)
        except BindAddressError as e:
            sys.exit(f"taskmill-operator: {e}")
    try:
        code = asyncio.run(run(config, metrics))
    except asyncio.CancelledError:  # SIGTERM / SIGINT: a requested, clean stop
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()
