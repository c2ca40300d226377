"""The web UI in a real headless Chromium: pages load, filter, sort, and follow a live change.

Screenshots of each page land in the test's tmp_path. Skips, saying why, where Debian's
chromium and chromedriver are missing (`make browser` installs them).
"""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.polling import wait_for
from tests.integration.status.kit import job_manifest
from tests.integration.views.conftest import Estate

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "needs Debian's chromium and chromium-driver (make browser)", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402  (only once the browser exists)
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def ui(estate: Estate) -> Iterator[str]:
    with estate.ui() as url:
        yield url


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
    """The table's (name, status) rows, read in one go: a live update may replace the
    table between two element reads."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('#status-table tbody tr')]"
        ".map(r => [r.dataset.name, r.dataset.status]);"
    )
    return [(str(name), str(status)) for name, status in found]


def click(driver: WebDriver, css: str) -> bool:
    """Click the element, or False when a re-render replaced it first (so try again)."""
    try:
        driver.find_element(By.CSS_SELECTOR, css).click()
    except (StaleElementReferenceException, NoSuchElementException):
        return False
    return True


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

    wait_for(
        lambda: (
            click(browser, "input[name=status][value=Failure]")
            and browser.find_element(By.CSS_SELECTOR, "input[value=Failure]").is_selected()
            and click(browser, "#f-apply")
        ),
        timeout=TIMEOUT,
        what="filtering on Failure",
    )
    wait_for(lambda: shown(browser) == {"broken": "Failure"}, timeout=TIMEOUT, what="the filter")
    browser.save_screenshot(str(tmp_path / "filtered.png"))

    browser.get(ui)
    wait_for(lambda: "broken" in shown(browser), timeout=TIMEOUT, what="the table again")
    wait_for(lambda: click(browser, "th[data-col=NAME]"), timeout=TIMEOUT, what="the NAME header")
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
