"""Command line of the command provider."""

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from taskmill.provider.config import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_KILL_GRACE_SECONDS,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_PENDING_WATCH,
    PendingWatch,
    ProviderConfig,
    identity_from_env,
    namespace_from_env,
    parse_capabilities,
)

from taskmill.metrics import BindAddressError, parse_bind_address


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="taskmill-provider",
        description="Run CMD once per leased task: params JSON on stdin and in the file "
        "$TASKMILL_PARAMS_FILE (also in TASKMILL_PARAMS when at most 32 KiB), task name in "
        "TASKMILL_TASK, a scratch directory in TASKMILL_WORKDIR, exit 0 is success, the "
        "stdout tail becomes result.output, JSON written to $TASKMILL_RESULT becomes the "
        "result.",
    )
    p.add_argument(
        "--capability",
        action="append",
        required=True,
        metavar="NAME[,NAME]",
        help="capabilities served (comma-separated or repeated)",
    )
    p.add_argument("--concurrency", type=int, default=1, help="tasks run at once (default 1)")
    p.add_argument("--namespace", help="namespace of the tasks (default $POD_NAMESPACE or default)")
    p.add_argument(
        "--lease-seconds",
        type=int,
        default=DEFAULT_LEASE_SECONDS,
        help=f"presence and task lease duration (default {DEFAULT_LEASE_SECONDS})",
    )
    p.add_argument(
        "--grace-seconds",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        help="on SIGTERM, how long running tasks may finish before they are handed back "
        f"(default {DEFAULT_GRACE_SECONDS:.0f})",
    )
    p.add_argument(
        "--kill-grace-seconds",
        type=float,
        default=DEFAULT_KILL_GRACE_SECONDS,
        help=f"SIGTERM to SIGKILL of a stopped command (default {DEFAULT_KILL_GRACE_SECONDS:.0f})",
    )
    p.add_argument(
        "--metrics-bind-address",
        default="0",
        help="serve Prometheus metrics at /metrics on HOST:PORT or :PORT; 0, the default, "
        "keeps them off (two local providers would collide on one port)",
    )
    p.add_argument(
        "--health-port",
        type=int,
        help="serve /healthz and /readyz (ready once announced with both watches synced)",
    )
    p.add_argument(
        "--stores",
        metavar="FILE",
        help="object stores for tasks with spec.files (YAML, see docs/files.md; default "
        "$TASKMILL_STORES)",
    )
    p.add_argument(
        "--pending-watch",
        choices=[w.value for w in PendingWatch],
        default=DEFAULT_PENDING_WATCH.value,
        help="which Pending Tasks to watch: 'nominated' (the default): this provider's "
        "nominees and nobody's, and others' only while it has nothing else to take (one "
        "event per task instead of one per provider); or 'all' of its capabilities' "
        "(what every provider watches when its identity is not a label value; see "
        "docs/architecture.md)",
    )
    p.add_argument(
        "--command",
        nargs=argparse.REMAINDER,
        required=True,
        metavar="CMD [ARG...]",
        help="the command and its arguments (must come last)",
    )
    return p


def stores_file(flag: str | None, env: Mapping[str, str]) -> Path | None:
    chosen = flag or env.get("TASKMILL_STORES")
    return Path(chosen) if chosen else None


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> tuple[ProviderConfig, list[str]]:
    """The provider's config and the command, or SystemExit(2) with a usage message."""
    p = parser()
    args = p.parse_args(argv)
    if not args.command:
        p.error("--command needs a command to run")
    try:
        metrics_address = parse_bind_address(args.metrics_bind_address)
    except BindAddressError as e:
        p.error(str(e))
    try:
        config = ProviderConfig(
            capabilities=parse_capabilities(args.capability),
            identity=identity_from_env(env),
            namespace=args.namespace or namespace_from_env(env),
            concurrency=args.concurrency,
            lease_seconds=args.lease_seconds,
            grace_seconds=args.grace_seconds,
            kill_grace_seconds=args.kill_grace_seconds,
            metrics_address=metrics_address,
            health_port=args.health_port,
            stores_file=stores_file(args.stores, env),
            pending_watch=PendingWatch(args.pending_watch),
        )
    except ValueError as e:
        p.error(str(e))
    return config, list(args.command)
