"""The client's pure parts: watch lines of any size, the token bucket, Retry-After."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol

from taskmill.kube import Connection, Kube
from taskmill.kube.client import EventTooLargeError, _error, json_lines
from taskmill.kube.config import Impersonation
from taskmill.kube.ratelimit import TokenBucket


class Unpaused(BaseProtocol):
    """A transport end that never needs pausing: all data is fed up front."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


def lines_of(chunks: list[bytes], max_bytes: int = 1 << 24) -> list[bytes]:
    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        protocol = Unpaused(loop)
        reader = aiohttp.StreamReader(protocol, limit=2**16, loop=loop)
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        return [line async for line in json_lines(reader, max_bytes)]

    return asyncio.run(main())


def test_watch_lines_far_beyond_aiohttps_line_limit_arrive_whole() -> None:
    # aiohttp's own line iteration raises at 128 KiB: a Task with big params ended the
    # operator's watch.
    big = json.dumps({"type": "ADDED", "object": {"spec": {"params": "x" * (3 << 20)}}}).encode()
    small = b'{"type": "BOOKMARK"}'
    chunks = [small + b"\n" + big[:1000], big[1000:], b"\n\n", small]  # no final newline
    assert lines_of(chunks) == [small, big, small]


def test_a_line_beyond_the_bound_is_refused() -> None:
    with pytest.raises(EventTooLargeError):
        lines_of([b"x" * 100, b"y" * 100], max_bytes=150)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("qps", "burst", "steps", "waits"),
    [
        # a full bucket serves the burst at once, then one token per 1/qps
        (10, 3, [0, 0, 0, 0, 0], [0, 0, 0, 0.1, 0.2]),
        # time refills the bucket, never beyond the burst
        (10, 2, [0, 0, 1.0, 0, 0], [0, 0, 0, 0, 0.1]),
        (2, 1, [0, 0.25, 0.25], [0, 0.25, 0.5]),
    ],
)
def test_token_bucket(qps: float, burst: int, steps: list[float], waits: list[float]) -> None:
    clock = Clock()
    bucket = TokenBucket(qps, burst, clock)
    got = []
    for step in steps:
        clock.now += step
        got.append(round(bucket.reserve(), 6))
    assert got == waits


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7.0), (None, None), ("soon", None), ("-3", 0.0)]
)
def test_retry_after_is_read_from_429s(header: str | None, seconds: float | None) -> None:
    error = _error(429, '{"reason": "TooManyRequests", "message": "slow down"}', header)
    assert (error.status, error.reason, error.retry_after) == (429, "TooManyRequests", seconds)


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def connection(runner: web.AppRunner) -> Connection:
    (address,) = runner.addresses
    return Connection(f"http://127.0.0.1:{address[1]}", False, lambda: "Bearer t")


def test_a_429_is_sent_again_after_its_retry_after_whatever_the_verb() -> None:
    seen: list[tuple[str, str | None]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.headers.get("Authorization")))
        if len(seen) < 3:
            return web.json_response(
                {"reason": "TooManyRequests"}, status=429, headers={"Retry-After": "0"}
            )
        return web.json_response({"ok": True})

    async def main() -> dict[str, Any]:
        runner = await serve(handler)
        try:
            async with Kube(connection(runner)) as kube:
                return await kube.create("/x", {"a": 1})
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == {"ok": True}
    assert seen == [("POST", "Bearer t")] * 3


def test_no_request_outlasts_the_clients_cap() -> None:
    async def main() -> bool:
        answer = asyncio.Event()

        async def handler(request: web.Request) -> web.Response:
            await answer.wait()  # an API server that stopped mid-request
            return web.json_response({})

        runner = await serve(handler)
        try:
            async with Kube(connection(runner), max_request_seconds=0.2) as kube:
                await kube.request("GET", "/x", request_timeout=30)
        except TimeoutError:
            return True
        finally:
            answer.set()
            await runner.cleanup()
        return False

    assert asyncio.run(main())


def test_impersonation_sends_the_user_and_every_group() -> None:
    seen: list[tuple[str | None, list[str]]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(
            (request.headers.get("Impersonate-User"), request.headers.getall("Impersonate-Group"))
        )
        return web.json_response({})

    async def main() -> None:
        runner = await serve(handler)
        try:
            conn = replace(connection(runner), impersonate=Impersonation("alice", ("ml", "ops")))
            async with Kube(conn) as kube:
                await kube.get("/x")
        finally:
            await runner.cleanup()

    asyncio.run(main())
    assert seen == [("alice", ["ml", "ops"])]
