"""`kubectl taskmill`: status, alerts, dashboard and why for every batch workload.

Installed as the `kubectl-taskmill` console script, so kubectl finds it as a plugin.
It reads with your kubeconfig (or --kubeconfig/--context, --as/--as-group) and
normalizes under your own status policy layers.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import yaml

from taskmill.api.batchjob import BatchJob
from taskmill.api.common import NormalizedStatus
from taskmill.api.task import Task
from taskmill.kube import Kube, load_connection
from taskmill.kube.client import ApiError
from taskmill.kube.config import ConfigError, Connection, Impersonation
from taskmill.status.adapters.lateness import parse_duration
from taskmill.views.alerts import alerts
from taskmill.views.dashboard import dashboard
from taskmill.views.filters import COLUMNS, WIDE, View, ViewError
from taskmill.views.render import alert_list, causes_text, dashboard_text, status_table
from taskmill.views.saved import load_view
from taskmill.views.source import Snapshot, snapshot
from taskmill.views.watching import changes
from taskmill.views.why import why_batchjob, why_other

USER_AGENT = "kubectl-taskmill"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    common.add_argument("--context", help="kubeconfig context")
    common.add_argument("--as", dest="as_user", metavar="USER", help="act as this user")
    common.add_argument(
        "--as-group", action="append", default=[], metavar="GROUP", help="act as this group"
    )
    scope = common.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")

    parser = argparse.ArgumentParser(prog="kubectl taskmill", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = commands.add_parser(
        "status", parents=[common], help="every workload with its normalized status"
    )
    status.add_argument("--kind", action="append", default=[], help="only this kind (repeatable)")
    status.add_argument(
        "--status",
        action="append",
        default=[],
        help="only this normalized status (repeatable): " + ", ".join(v for v in NormalizedStatus),
    )
    status.add_argument("-l", "--selector", default="", help="label selector, as kubectl -l")
    status.add_argument("--name", default="", help="only names containing this")
    status.add_argument("--since", default="", help="only workloads created within, e.g. 2h")
    status.add_argument(
        "--sort-by", default="", help=f"a column ({', '.join(WIDE)}); STATUS sorts by severity"
    )
    status.add_argument("-o", "--output", choices=("wide", "json", "yaml"), help="output format")
    status.add_argument("-w", "--watch", action="store_true", help="print again on every change")
    status.add_argument("--view", help="a saved JobView (this namespace) or ClusterJobView")

    for name, text in (("alerts", "what needs attention now"), ("dashboard", "the summary")):
        sub = commands.add_parser(name, parents=[common], help=text)
        sub.add_argument("-o", "--output", choices=("json",), help="output format")

    why = commands.add_parser("why", parents=[common], help="why a workload is not running")
    why.add_argument("name", help="the workload's name")
    why.add_argument("--kind", default="BatchJob", help="its kind (default BatchJob)")

    ui = commands.add_parser("ui", parents=[common], help="serve the web UI locally")
    ui.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    ui.add_argument("--address", default="127.0.0.1", help="address to listen on")
    ui.add_argument("--open", action="store_true", help="open a browser on it")
    ui.add_argument(
        "--user-header",
        default="",
        help="behind an authenticating proxy: act as the user this header names (by "
        "impersonation); off unless given, so a request cannot choose who it is",
    )
    ui.add_argument("--group-header", default="", help="with --user-header: the groups' header")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except (ConfigError, ViewError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ApiError as e:
        print(f"error: the API server refused: {e.message or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def connection(args: argparse.Namespace) -> Connection:
    conn = load_connection(args.kubeconfig, args.context)
    if args.as_user:
        conn = replace(conn, impersonate=Impersonation(args.as_user, tuple(args.as_group)))
    elif args.as_group:
        raise ConfigError("--as-group needs --as")
    return conn


def namespace_of(args: argparse.Namespace, conn: Connection) -> str | None:
    if args.all_namespaces:
        return None
    return str(args.namespace or conn.namespace or "default")


async def _run(args: argparse.Namespace) -> int:
    conn = connection(args)
    namespace = namespace_of(args, conn)
    if args.command == "ui":
        return await _ui(args, conn, namespace)
    async with Kube(conn, user_agent=USER_AGENT) as kube:
        if args.command == "status":
            return await _status(kube, args, namespace)
        if args.command == "alerts":
            shot = await snapshot(kube, _now(), namespace=namespace, with_tasks=True)
            found = alerts(shot.rows, shot.capacity, _now())
            if args.output == "json":
                _print_json({"items": [vars(a) for a in found], "denied": shot.denied})
            else:
                print(alert_list(found))
            _warn_denied(shot)
            return 0
        if args.command == "dashboard":
            shot = await snapshot(kube, _now(), namespace=namespace, with_tasks=True)
            board = dashboard(shot.rows, shot.capacity, shot.tasks, _now())
            if args.output == "json":
                _print_json({**board.as_json(), "denied": shot.denied})
            else:
                print(dashboard_text(board))
            _warn_denied(shot)
            return 0
        return await _why(kube, args, namespace)


async def _ui(args: argparse.Namespace, conn: Connection, namespace: str | None) -> int:
    from taskmill.views.web.server import serve_ui  # only the ui needs aiohttp.web

    if args.group_header and not args.user_header:
        raise ConfigError("--group-header needs --user-header")
    return await serve_ui(
        conn, namespace, args.address, args.port, args.open, args.user_header, args.group_header
    )


async def _status(kube: Kube, args: argparse.Namespace, namespace: str | None) -> int:
    view, selector, namespace = await _view(kube, args, namespace)
    while True:
        now = _now()
        shot = await snapshot(kube, now, namespace=namespace, label_selector=selector)
        rows = view.select(shot.rows, now)
        if args.output in ("json", "yaml"):
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "List",
                "items": [row.as_json(now) for row in rows],
                "denied": shot.denied,
            }
            _print_json(body) if args.output == "json" else print(yaml.safe_dump(body), end="")
        else:
            columns = WIDE if args.output == "wide" else view.columns
            print(status_table(rows, columns, now) if rows else "No workloads found.")
        _warn_denied(shot)
        if not args.watch:
            return 0
        sys.stdout.flush()
        await changes(kube, shot.survey.sources)
        print()


async def _view(
    kube: Kube, args: argparse.Namespace, namespace: str | None
) -> tuple[View, str, str | None]:
    """The view from --view, refined by flags, or from flags alone."""
    view, selector = View(), args.selector
    if args.view:
        saved = await load_view(kube, args.view, namespace)
        view, selector = saved.view, args.selector or saved.selector
        if saved.all_namespaces and not args.namespace:
            namespace = None
    since = parse_duration(args.since) if args.since else view.since
    return (
        replace(
            view,
            kinds=tuple(args.kind) or view.kinds,
            statuses=tuple(args.status) or view.statuses,
            name=args.name or view.name,
            since=since,
            sort_by=args.sort_by or view.sort_by,
            columns=view.columns or COLUMNS,
        ).check(),
        selector,
        namespace,
    )


async def _why(kube: Kube, args: argparse.Namespace, namespace: str | None) -> int:
    now = _now()
    shot = await snapshot(kube, now, namespace=namespace, with_tasks=True)
    kind = args.kind.split(".", 1)[0].lower()
    match = [r for r in shot.survey.rows if r.name == args.name and r.kind.lower() == kind]
    if not match:
        where = f"namespace {namespace}" if namespace else "any namespace"
        denied = f" (you may not list: {', '.join(shot.denied)})" if shot.denied else ""
        raise ViewError(f"no {args.kind} named {args.name!r} in {where}{denied}")
    row = match[0]
    if row.kind != "BatchJob":
        print(
            causes_text(
                row.kind, row.name, why_other(row.obj, str(row.verdict.value), row.verdict.reason)
            )
        )
        return 0
    job = BatchJob.model_validate(row.obj)
    tasks = [
        Task.model_validate(t) for t in shot.tasks if t["metadata"]["namespace"] == row.namespace
    ]
    own = [t for t in tasks if t.spec.batch_job == job.metadata.name]
    queue = [t for t in tasks if t.status.phase == "Pending"]
    phases = {
        r.name: str((r.obj.get("status") or {}).get("phase", "Pending"))
        for r in shot.survey.rows
        if r.kind == "BatchJob" and r.namespace == row.namespace
    }
    providers = [p for p in shot.providers if p.namespace == row.namespace]
    found = why_batchjob(job, own, queue, providers, phases, now)
    print(f"{row.kind} {row.namespace}/{row.name} is {row.verdict.value} ({row.verdict.reason})")
    print(causes_text(row.kind, row.name, found))
    _warn_denied(shot)
    return 0


def _warn_denied(shot: Snapshot) -> None:
    for kind in shot.denied:
        print(f"warning: you may not list {kind}; it is not shown", file=sys.stderr)
    for note in shot.survey.notes:
        print(f"warning: {note}", file=sys.stderr)


def _print_json(body: dict[str, Any]) -> None:
    """Indented at the top, one compact line per item: readable, and the C encoder's speed
    (json.dumps with indent falls back to pure Python, seconds for thousands of items)."""
    lines = ["{"]
    fields = list(body.items())
    for position, (key, value) in enumerate(fields):
        comma = "," if position < len(fields) - 1 else ""
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {json.dumps(item)}" for item in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    print("\n".join(lines))


def _now() -> datetime:
    return datetime.now(UTC)
