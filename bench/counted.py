"""python -m bench.counted OUT MODULE [ARG...]: run MODULE as __main__, counting its requests.

The API server's metrics count requests by verb and resource but not by client. To
split the cost of a run between the operator and the providers, the bench starts each
of them through this launcher, which wraps aiohttp's request method (kopf's client and
taskmill's own both go through it) and keeps a running tally in OUT as JSON:
{"VERB resource[/subresource]": count}. Verbs are named as the API server names them
(LIST, WATCH, GET, POST, PATCH, PUT, DELETE), so the two sources can be compared.
The file is rewritten from a daemon thread twice a second, so a SIGKILLed process
leaves a tally at most half a second old.
"""

import cProfile
import json
import os
import runpy
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

FLUSH_SECONDS = 0.5
PROFILE_ENV = "TASKMILL_BENCH_PROFILE"


def request_key(method: str, url: str, params: Mapping[str, Any] | None) -> str:
    """'VERB resource[/subresource]' for one request to a Kubernetes API path."""
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    query.update({str(k): str(v) for k, v in (params or {}).items()})
    parts = [p for p in split.path.split("/") if p]
    # /api/v1/... or /apis/group/version/...; then [namespaces/NS/]resource[/name[/sub]]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    resource = rest[0] if rest else "?"
    named = len(rest) >= 2
    subresource = rest[2] if len(rest) >= 3 else ""
    verb = method.upper()
    if verb == "GET":
        verb = "WATCH" if query.get("watch") in ("true", "1") else ("GET" if named else "LIST")
    return f"{verb} {resource}/{subresource}" if subresource else f"{verb} {resource}"


class Tally:
    def __init__(self, out: Path) -> None:
        self._out = out
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def flush(self) -> None:
        with self._lock:
            text = json.dumps(dict(self._counts))
        tmp = self._out.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self._out)

    def flush_forever(self) -> None:
        stop = threading.Event()
        while not stop.wait(FLUSH_SECONDS):
            self.flush()


def install(tally: Tally) -> None:
    original = aiohttp.ClientSession._request

    async def counted(
        self: aiohttp.ClientSession, method: str, str_or_url: Any, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        tally.add(request_key(method, str(str_or_url), kwargs.get("params")))
        return await original(self, method, str_or_url, **kwargs)

    # Replacing the method on the class is the point (every session, kopf's too); mypy
    # forbids assigning to a method, and there is no hook that sees every request.
    aiohttp.ClientSession._request = counted  # type: ignore[method-assign]


def main() -> None:
    out, module, *args = sys.argv[1:]
    tally = Tally(Path(out))
    install(tally)
    threading.Thread(target=tally.flush_forever, daemon=True).start()
    sys.argv = [module, *args]
    # With TASKMILL_BENCH_PROFILE=DIR, a cProfile of the whole run lands in DIR on exit
    # (a graceful one: SIGTERM; a SIGKILLed process leaves no profile). It counts the
    # process's CPU time, not the wall clock: on a loaded machine the wall clock charges
    # every function for the time others ran, and idle waits for the time it slept.
    profile_dir = os.environ.get(PROFILE_ENV)
    profiler = cProfile.Profile(time.process_time) if profile_dir else None
    if profiler is not None:
        profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        tally.flush()
        if profiler is not None and profile_dir:
            profiler.disable()
            profiler.dump_stats(Path(profile_dir) / f"{Path(out).name.split('.')[0]}.prof")


if __name__ == "__main__":
    main()
