"""A real Prometheus on loopback, scraping given targets and evaluating given rules.

The binary is Debian's (hack/build-control-plane.sh prometheus). Scrapes and rule
evaluation run every second so that tests see `for:` clauses pass in seconds; rules are
rewritten with the test's own `for:` where it asks.
"""

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tests.harness import procs
from tests.harness.polling import wait_for
from tests.harness.ports import free_ports
from tests.harness.versions import Binaries


class Prometheus:
    def __init__(
        self,
        state_dir: Path,
        targets: list[str],
        rule_files: list[Path],
        *,
        binaries: Binaries | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.targets = targets
        self.rule_files = rule_files
        self.binary = (binaries or Binaries.locate()).prometheus
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Prometheus":
        (port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": "taskmill", "static_configs": [{"targets": self.targets}]}
            ],
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config_file = self.state_dir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        args = [
            str(self.binary),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.state_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        self._proc = procs.spawn(args, self.state_dir / "prometheus.log", die_with_parent=True)
        wait_for(self._ready, timeout=60, what="Prometheus ready")
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            procs.stop_group(self._proc.pid, procs.child_exited(self._proc))
            self._proc = None

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """Active alerts of that name (state pending or firing), with their labels."""
        return [a for a in self.api("alerts")["alerts"] if a["labels"].get("alertname") == name]

    def targets_up(self) -> bool:
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)


def rules_with_short_for(source: Path, dest: Path, seconds: int) -> Path:
    """The rule file with every `for:` shortened, so an alert's life fits in a test."""
    rules = yaml.safe_load(source.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = f"{seconds}s"
    dest.write_text(yaml.safe_dump(rules))
    return dest
