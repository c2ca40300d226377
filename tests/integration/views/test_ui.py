"""The web UI in a real headless Chromium: pages load, filter, sort, and follow a live change.

Screenshots of each page land in the test's tmp_path. Skips, saying why, where Debian's
chromium and chromedriver are missing (`make browser` installs them).
"""

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.polling import wait_for
from tests.integration.status.kit import job_manifest
from tests.integration.views.conftest import PLUGIN_BIN, Estate

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "needs Debian's chromium and chromium-driver (make browser)", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402  (only once the browser exists)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def ui(estate: Estate) -> Iterator[str]:
    """`kubectl taskmill ui` on a free port; yields its URL."""
    env = {**estate.cluster.env, "PATH": f"{PLUGIN_BIN}{os.pathsep}{estate.cluster.env['PATH']}"}
    proc = subprocess.Popen(
        [
            str(estate.cluster.bin_dir / "kubectl"),
            "taskmill",
            "ui",
            "-n",
            estate.namespace,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "taskmill UI at http://127.0.0.1:PORT/ (Ctrl-C to stop)"
    assert line.startswith("taskmill UI at http://127.0.0.1:"), line
    try:
        yield line.split()[3]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def rows(driver: WebDriver) -> list[tuple[str, str]]:
    return [
        (row.get_attribute("data-name") or "", row.get_attribute("data-status") or "")
        for row in driver.find_elements(By.CSS_SELECTOR, "#status-table tbody tr")
    ]


def shown(driver: WebDriver) -> dict[str, str]:
    return dict(rows(driver))


def present(driver: WebDriver, css: str) -> bool:
    return bool(driver.find_elements(By.CSS_SELECTOR, css))


def test_the_status_page_filters_sorts_and_follows_changes(
    ui: str, browser: WebDriver, estate: Estate, tmp_path: Path
) -> None:
    browser.get(ui)
    wait_for(lambda: "broken" in shown(browser), timeout=TIMEOUT, what="the table")
    assert shown(browser) == {
        "resize": "Waiting",
        "paused": "OnHold",
        "resize-0": "Waiting",
        "etl": "Running",
        "broken": "Failure",
    }
    names = [
        r.get_attribute("data-name")
        for r in browser.find_elements(By.CSS_SELECTOR, "#status-table tbody tr")
    ]
    assert names[0] == "broken"  # severity first
    browser.save_screenshot(str(tmp_path / "status.png"))

    browser.find_element(By.CSS_SELECTOR, "input[name=status][value=Failure]").click()
    browser.find_element(By.ID, "f-apply").click()
    wait_for(lambda: shown(browser) == {"broken": "Failure"}, timeout=TIMEOUT, what="the filter")
    browser.save_screenshot(str(tmp_path / "filtered.png"))

    browser.get(ui)
    wait_for(lambda: "broken" in shown(browser), timeout=TIMEOUT, what="the table again")
    browser.find_element(By.CSS_SELECTOR, "th[data-col=NAME]").click()
    wait_for(
        lambda: (
            [
                r.get_attribute("data-name")
                for r in browser.find_elements(By.CSS_SELECTOR, "#status-table tbody tr")
            ]
            == ["broken", "etl", "paused", "resize", "resize-0"]
        ),
        timeout=TIMEOUT,
        what="sorting by name",
    )

    # A change in the cluster reaches the open page without a reload.
    estate.cluster.kubectl(
        "patch",
        "bj",
        "resize",
        "-n",
        estate.namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"suspend": True}}),
    )
    estate.cluster.kubectl("create", "-n", estate.namespace, "-f", "-", input=job_manifest("late"))
    wait_for(
        lambda: shown(browser).get("resize") == "OnHold" and "late" in shown(browser),
        timeout=TIMEOUT,
        what="the live update",
    )
    browser.save_screenshot(str(tmp_path / "live.png"))


def test_alerts_dashboard_and_job_pages(
    ui: str, browser: WebDriver, estate: Estate, tmp_path: Path
) -> None:
    browser.get(ui + "alerts")
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, "[data-subject='capability/image.resize']"),
        timeout=TIMEOUT,
        what="the backlog alert",
    )
    assert browser.find_elements(By.CSS_SELECTOR, f"[data-subject='Job/{estate.namespace}/broken']")
    browser.save_screenshot(str(tmp_path / "alerts.png"))

    browser.get(ui + "dashboard")
    wait_for(
        lambda: browser.find_elements(
            By.CSS_SELECTOR, "#capabilities [data-capability='image.resize']"
        ),
        timeout=TIMEOUT,
        what="the dashboard",
    )
    assert browser.find_elements(By.CSS_SELECTOR, "svg#backlog-chart polyline")
    browser.save_screenshot(str(tmp_path / "dashboard.png"))

    browser.get(ui + f"jobs/{estate.namespace}/BatchJob/paused")
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#why li"),
        timeout=TIMEOUT,
        what="the job page",
    )
    assert "suspended" in browser.find_element(By.ID, "why").text
    assert browser.find_element(By.ID, "job-status").text == "OnHold"
    browser.save_screenshot(str(tmp_path / "job.png"))
