"""`kubectl taskmill ui`: the web UI, served locally with the viewer's own credentials.

Read-only: every route is a GET, and the API server is only listed and watched. Pages
are static files rendered in the browser from the JSON routes; live updates arrive as
server-sent events from one shared hub (hub.py), not from a poll per browser.
"""

import asyncio
import json
import webbrowser
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from aiohttp import web

from taskmill.api.batchjob import BatchJob
from taskmill.api.task import Task
from taskmill.kube import Kube
from taskmill.kube.api import KubeApi
from taskmill.kube.client import ApiError
from taskmill.kube.config import Connection, Impersonation
from taskmill.kube.paths import EVENTS
from taskmill.status.adapters.lateness import parse_duration
from taskmill.views.alerts import alerts
from taskmill.views.dashboard import dashboard
from taskmill.views.filters import View, ViewError
from taskmill.views.saved import list_views, load_view
from taskmill.views.source import Snapshot, snapshot
from taskmill.views.watching import changes
from taskmill.views.web.hub import Hub
from taskmill.views.why import why_batchjob, why_other

STATIC = files("taskmill.views.web").joinpath("static")
UI_AGENT = "kubectl-taskmill-ui"
MIN_INTERVAL_SECONDS = 1.0  # at most one relist a second, however busy the cluster

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class Hubs:
    """One hub per identity the UI acts as.

    Normally that is one: the credentials it runs with. Behind an authenticating proxy,
    and only when told the header names, it acts as the user (and groups) the proxy
    names, by impersonation, so each person sees what they may list, under their own
    policies; each identity still gets one shared hub, never one per browser.
    """

    def __init__(
        self,
        conn: Connection,
        namespace: str | None,
        clock: Clock,
        user_header: str = "",
        group_header: str = "",
    ) -> None:
        self._conn = conn
        self._namespace = namespace
        self._clock = clock
        self._user_header = user_header
        self._group_header = group_header
        self._hubs: dict[Impersonation | None, tuple[Hub, Kube, asyncio.Task[None]]] = {}
        self._lock = asyncio.Lock()

    async def for_request(self, request: web.Request) -> tuple[Hub, KubeApi]:
        who = self._identity(request)
        async with self._lock:
            if who not in self._hubs:
                self._hubs[who] = await self._start(who)
        hub, kube, _task = self._hubs[who]
        return hub, kube

    def _identity(self, request: web.Request) -> Impersonation | None:
        if not self._user_header:
            return None
        user = request.headers.get(self._user_header, "")
        if not user:
            raise web.HTTPUnauthorized(text=f"no {self._user_header} header from the proxy")
        groups = (
            [
                group.strip()
                for value in request.headers.getall(self._group_header, [])
                for group in value.split(",")
                if group.strip()
            ]
            if self._group_header
            else []
        )
        return Impersonation(user, tuple(groups))

    async def _start(self, who: Impersonation | None) -> tuple[Hub, Kube, asyncio.Task[None]]:
        kube = Kube(
            replace(self._conn, impersonate=who) if who else self._conn, user_agent=UI_AGENT
        )
        await kube.__aenter__()
        namespace, clock = self._namespace, self._clock

        async def take() -> Snapshot:
            return await snapshot(kube, clock(), namespace=namespace, with_tasks=True)

        async def changed(shot: Snapshot) -> None:
            await asyncio.sleep(MIN_INTERVAL_SECONDS)
            await changes(kube, shot.sources)

        hub = Hub(take, changed, clock)
        return hub, kube, asyncio.create_task(hub.run(), name=f"ui hub {who}")

    async def ready(self) -> None:
        """Start the UI's own hub and wait for its first snapshot (not behind a proxy:
        there each user's hub starts with their first request)."""
        if not self._user_header:
            async with self._lock:
                if None not in self._hubs:
                    self._hubs[None] = await self._start(None)
            await self._hubs[None][0].current()

    async def close(self) -> None:
        for _hub, kube, task in self._hubs.values():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await kube.close()
        self._hubs.clear()


def make_app(hubs: Hubs, namespace: str | None, clock: Clock = _now) -> web.Application:
    app = web.Application()
    app["hubs"], app["namespace"], app["clock"] = hubs, namespace, clock
    app.router.add_get("/", _page)
    app.router.add_get("/alerts", _page)
    app.router.add_get("/dashboard", _page)
    app.router.add_get("/jobs/{namespace}/{kind}/{name}", _page)
    app.router.add_get("/static/{file}", _static)
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/alerts", _alerts)
    app.router.add_get("/api/dashboard", _dashboard)
    app.router.add_get("/api/jobs/{namespace}/{kind}/{name}", _job)
    app.router.add_get("/api/views", _views)
    app.router.add_get("/api/events", _events)
    app.router.add_get("/healthz", _healthz)

    async def stop(app: web.Application) -> None:
        await hubs.close()

    app.on_cleanup.append(stop)
    return app


async def serve_ui(
    conn: Connection,
    namespace: str | None,
    address: str,
    port: int,
    open_browser: bool,
    user_header: str = "",
    group_header: str = "",
) -> int:
    hubs = Hubs(conn, namespace, _now, user_header, group_header)
    runner = web.AppRunner(make_app(hubs, namespace), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, address, port)
    await site.start()
    await hubs.ready()  # the first page then answers from memory
    bound = runner.addresses[0][1]
    url = f"http://{address}:{bound}/"
    print(f"taskmill UI at {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _page(request: web.Request) -> web.Response:
    body = STATIC.joinpath("index.html").read_text()
    return web.Response(text=body, content_type="text/html")


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["file"]
    types = {".js": "application/javascript", ".css": "text/css"}
    kind = next((t for ext, t in types.items() if name.endswith(ext)), None)
    resource = STATIC.joinpath(name)
    if kind is None or "/" in name or not resource.is_file():
        raise web.HTTPNotFound()
    return web.Response(text=resource.read_text(), content_type=kind)


async def _status(request: web.Request) -> web.Response:
    hub, kube = await request.app["hubs"].for_request(request)
    shot = await hub.current()
    now = request.app["clock"]()
    try:
        view = await _view_of(request, kube)
    except ViewError as e:
        return web.json_response({"error": str(e)}, status=400)
    rows = view.select(shot.rows, now)
    return web.json_response(
        {
            "version": hub.version,
            "columns": list(view.columns),
            "items": [row.as_json(now) for row in rows],
            "denied": shot.denied,
            "notes": shot.survey.notes,
            "viewer": shot.survey.viewer.user,
        }
    )


async def _view_of(request: web.Request, kube: KubeApi) -> View:
    query = request.query
    view = View()
    if query.get("view"):
        try:
            saved = await load_view(kube, query["view"], request.app["namespace"])
        except ApiError as e:
            raise ViewError(e.message) from None
        view = saved.view
    since = query.get("since", "")
    try:
        since_delta = parse_duration(since) if since else view.since
    except ValueError as e:
        raise ViewError(f"since: {e}") from None
    return View(
        kinds=tuple(query.getall("kind", [])) or view.kinds,
        statuses=tuple(query.getall("status", [])) or view.statuses,
        name=query.get("name", "") or view.name,
        since=since_delta,
        sort_by=query.get("sort", "").upper() or view.sort_by,
        columns=view.columns,
    ).check()


async def _views(request: web.Request) -> web.Response:
    hub, kube = await request.app["hubs"].for_request(request)
    shot = await hub.current()
    listed = await list_views(kube, request.app["namespace"], shot.survey.viewer)
    return web.json_response({"items": [vars(v) for v in listed]})


async def _alerts(request: web.Request) -> web.Response:
    hub, _kube = await request.app["hubs"].for_request(request)
    shot = await hub.current()
    found = alerts(shot.rows, shot.capacity, request.app["clock"]())
    return web.json_response({"version": hub.version, "items": [vars(a) for a in found]})


async def _dashboard(request: web.Request) -> web.Response:
    hub, _kube = await request.app["hubs"].for_request(request)
    shot = await hub.current()
    board = dashboard(shot.rows, shot.capacity, shot.tasks, request.app["clock"]())
    history = [
        {"at": s.at.isoformat(), "backlog": s.backlog, "finished": s.finished_per_minute}
        for s in hub.history
    ]
    return web.json_response({"version": hub.version, **board.as_json(), "history": history})


async def _job(request: web.Request) -> web.Response:
    hub, kube = await request.app["hubs"].for_request(request)
    shot = await hub.current()
    ns, kind, name = (request.match_info[k] for k in ("namespace", "kind", "name"))
    now = request.app["clock"]()
    rows = [r for r in shot.survey.rows if (r.namespace, r.kind, r.name) == (ns, kind, name)]
    if not rows:
        return web.json_response({"error": f"no {kind} {ns}/{name}"}, status=404)
    row = rows[0]
    tasks = [Task.model_validate(t) for t in shot.tasks if t["metadata"]["namespace"] == ns]
    own = [t for t in tasks if kind == "BatchJob" and t.spec.batch_job == name]
    if kind == "BatchJob":
        phases = {
            r.name: str((r.obj.get("status") or {}).get("phase", "Pending"))
            for r in shot.survey.rows
            if r.kind == "BatchJob" and r.namespace == ns
        }
        queue = [t for t in tasks if t.status.phase == "Pending"]
        providers = [p for p in shot.providers if p.namespace == ns]
        causes = why_batchjob(BatchJob.model_validate(row.obj), own, queue, providers, phases, now)
    else:
        causes = why_other(row.obj, str(row.verdict.value), row.verdict.reason)
    return web.json_response(
        {
            "version": hub.version,
            "workload": next(
                r.as_json(now)
                for r in shot.rows
                if (r.namespace, r.kind, r.name) == (ns, kind, name)
            ),
            "why": [vars(c) for c in causes],
            "tasks": [_task_json(t) for t in sorted(own, key=lambda t: t.spec.index)],
            "events": await _events_of(kube, ns, name),
        }
    )


def _task_json(task: Task) -> dict[str, Any]:
    status = task.status
    return {
        "name": task.metadata.name,
        "index": task.spec.index,
        "phase": str(status.phase),
        "normalizedStatus": str(status.normalized_status),
        "attempts": status.attempts,
        "holder": status.lease.holder,
        "message": status.result.message if status.result else "",
        "history": [h.wire() for h in status.history],
    }


async def _events_of(kube: KubeApi, namespace: str, name: str) -> list[dict[str, str]]:
    try:
        listed = await kube.list_objects(
            EVENTS.path(namespace), fieldSelector=f"regarding.name={name}"
        )
    except ApiError:
        return []  # events are a courtesy: a viewer who may not list them sees none
    return [
        {
            "type": str(e.get("type", "")),
            "reason": str(e.get("reason", "")),
            "note": str(e.get("note", "")),
            "time": str(e.get("eventTime") or e.get("deprecatedLastTimestamp") or ""),
        }
        for e in listed.get("items", [])
    ]


async def _events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `version` each time the shared snapshot changes."""
    hub, _kube = await request.app["hubs"].for_request(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    queue = hub.subscribe()
    try:
        await hub.current()
        await response.write(f"data: {json.dumps({'version': hub.version})}\n\n".encode())
        while True:
            version = await queue.get()
            await response.write(f"data: {json.dumps({'version': version})}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
    return response
