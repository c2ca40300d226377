"""How fast the views answer over 5,000 workloads on the local control plane.

`kubectl taskmill status -A -o json` as a user runs it (a new process, the real kubectl
plugin lookup), and the web UI: from the page's request to its first table, on a
server that has just started (it says so once its first list is in) and once warm.
One list per kind either way; nothing per object.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.context import Bench
from tests.builders import make_batchjob, make_task, make_workload

TARGET_STATUS_S = 2.0
TARGET_UI_S = 1.0
NAMESPACE = "bench-views"
PLUGIN_BIN = Path(sys.executable).parent


def _workloads(count: int) -> list[dict[str, Any]]:
    """BatchJobs, Tasks and suspended batch/v1 Jobs (suspended: no pods to make)."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        match i % 5:
            case 0 | 1:
                out.append(make_batchjob(f"bj-{i}").range(end=10).obj())
            case 2 | 3:
                out.append(make_task(f"t-{i}", job=f"bj-{i - 2}").index(i).obj())
            case _:
                job = make_workload("batch/v1", "Job", f"job-{i}").spec(
                    suspend=True,
                    template={
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox"}],
                        }
                    },
                )
                out.append(job.obj())
    return out


async def _create(bench: Bench, objects: list[dict[str, Any]]) -> None:
    paths = {
        "BatchJob": f"/apis/taskmill.io/v1alpha1/namespaces/{NAMESPACE}/batchjobs",
        "Task": f"/apis/taskmill.io/v1alpha1/namespaces/{NAMESPACE}/tasks",
        "Job": f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs",
    }
    gate = asyncio.Semaphore(32)

    async def one(obj: dict[str, Any]) -> None:
        async with gate:
            await bench.kube.create(paths[obj["kind"]], obj)

    await asyncio.gather(*(one(obj) for obj in objects))


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=True)
    return time.perf_counter() - started, done.stdout


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        body: bytes = response.read()
    return body


def _ui_first_page(env: dict[str, str], kubectl: str) -> tuple[float, float]:
    """(seconds to the first table on a server that just said it is up, the same once
    warm). The server prints its URL once its first list is in."""
    proc = subprocess.Popen(
        [kubectl, "taskmill", "ui", "-A", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[3]
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            _get(url)  # the page
            _get(url + "static/app.js")
            _get(url + "api/status")  # its table
            timings.append(time.perf_counter() - started)
        return timings[0], timings[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def views(bench: Bench, count: int = 5000) -> dict[str, Any]:
    cluster = bench.cluster
    cluster.kubectl("create", "namespace", NAMESPACE)
    try:
        started = time.perf_counter()
        await _create(bench, _workloads(count))
        bench.say(f"created {count} workloads in {time.perf_counter() - started:.1f}s")
        env = {**cluster.env, "PATH": f"{PLUGIN_BIN}{os.pathsep}{cluster.env['PATH']}"}
        kubectl = str(cluster.bin_dir / "kubectl")
        runs = []
        for _ in range(3):
            seconds, out = await asyncio.to_thread(
                _timed, [kubectl, "taskmill", "status", "-A", "-o", "json"], env
            )
            runs.append(seconds)
        shown = sum(1 for i in json.loads(out)["items"] if i["namespace"] == NAMESPACE)
        cold, warm = await asyncio.to_thread(_ui_first_page, env, kubectl)
        bench.say(
            f"status -A: {min(runs):.2f}s ({shown} rows); "
            f"UI first page {cold:.2f}s cold, {warm:.2f}s warm"
        )
        return {
            "workloads": count,
            "rows": shown,
            "status_seconds": min(runs),
            "status_meets_target": min(runs) < TARGET_STATUS_S,
            "ui_first_page_cold_seconds": cold,
            "ui_first_page_warm_seconds": warm,
        }
    finally:
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
