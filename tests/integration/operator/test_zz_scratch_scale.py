import time
from tests.harness import wait_for


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().split()
    return (int(f[13]) + int(f[14])) / 100


def rss(pid):
    return [l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0]


def test_scale(driver, start_operator, tmp_path):
    op = start_operator("--max-live-tasks", "500")
    wait_for(driver.leader, timeout=30, what="lead")
    t0 = time.monotonic()
    driver.create_job("huge", {"capability": "echo", "range": {"end": 100_000}, "lease": {"durationSeconds": 60}})
    wait_for(lambda: len(driver.tasks("huge")) >= 500, timeout=100, what="500")
    t1 = time.monotonic()
    print(f"\n500 tasks created in {t1-t0:.1f}s; rss {rss(op.pid)} kB cpu {cpu(op.pid)}")
    done = 0
    peak = 0
    while time.monotonic() - t1 < 60:
        done += driver.run_to_completion("huge", duration=60)
        live = len(driver.tasks("huge")) - done
        peak = max(peak, live)
    el = time.monotonic() - t1
    print(f"completed {done} in {el:.1f}s ({done/el:.1f}/s); peak live {peak}; rss {rss(op.pid)} kB; cpu {cpu(op.pid)}")
    print((tmp_path / "operator-0.log").read_text()[-1500:])
