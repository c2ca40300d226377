"""The Argo CD health check (deploy/argocd/batchjob-health.lua) run by a real Lua 5.1.

Argo CD runs health checks in gopher-lua (Lua 5.1) with the standard libraries off, so
the script runs here in lupa's Lua 5.1 inside a sandbox holding only base functions:
a call into the string, os or io library fails the test, as it would fail in Argo CD.
The inputs are BatchJob samples in tests/unit/fixtures/batchjob-status/, validated
against the API types, and the verdicts are checked against kstatus (Flux) too, so
both GitOps tools read a job the same way.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from taskmill.api.batchjob import BatchJob

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "deploy" / "argocd" / "batchjob-health.lua"
ARGOCD_CM = REPO_ROOT / "deploy" / "argocd" / "argocd-cm.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "batchjob-status"
HEALTH_KEY = "resource.customizations.health.taskmill.io_BatchJob"

_SANDBOX = """
return function(code, obj)
  local env = {obj = obj, ipairs = ipairs, pairs = pairs, next = next, type = type,
               tostring = tostring, tonumber = tonumber, table = table}
  local chunk = assert(loadstring(code, "=batchjob-health.lua"))
  setfenv(chunk, env)
  return chunk()
end
"""


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def health(obj: dict[str, Any], script: str | None = None) -> tuple[str, str]:
    """(status, message) the health check returns for a BatchJob object."""
    lua = lua51.LuaRuntime()
    run = lua.execute(_SANDBOX)
    result = run(script or SCRIPT.read_text(), lua.table_from(obj, recursive=True))
    return str(result["status"]), str(result["message"])


def kstatus(obj: dict[str, Any]) -> str:
    """The kstatus (cli-utils, used by Flux) verdict for a custom resource with conditions."""
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    observed = status.get("observedGeneration")
    if observed is not None and generation is not None and observed != generation:
        return "InProgress"
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    if conditions.get("Reconciling") == "True":
        return "InProgress"
    if conditions.get("Stalled") == "True":
        return "Failed"
    if "Ready" in conditions:
        return "Current" if conditions["Ready"] == "True" else "InProgress"
    return "Current"


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("new", "Progressing", "Waiting for the taskmill operator to accept the BatchJob"),
        (
            "waiting-for-providers",
            "Progressing",
            "Waiting: Waiting: no live provider serves capability image.resize",
        ),
        ("running", "Progressing", "Running: Running: 1/4 succeeded, 2 running, 1 pending"),
        ("retrying", "Progressing", "Restart: Restart: 1 tasks wait to be retried"),
        ("late-to-start", "Progressing", "LateToStart: LateToStart: no task started within 60s"),
        ("succeeded", "Healthy", "BatchJob succeeded (4/4 tasks succeeded)"),
        ("failed", "Degraded", "TasksFailed: 1 of 4 tasks failed (3/4 tasks succeeded)"),
        ("rejected", "Degraded", "Rejected: spec.params.width: must be a positive integer"),
        ("cancelled", "Degraded", "JobCancelled: spec.cancel was set (1/4 tasks succeeded)"),
        ("suspended", "Suspended", "SuspendRequested: spec.suspend is set: nothing new is leased"),
        (
            "stale-generation",
            "Progressing",
            "Waiting for the taskmill operator to observe generation 2"
            " (status is for generation 1)",
        ),
    ],
)
def test_health_of_batchjob_samples(name: str, status: str, message: str) -> None:
    got_status, got_message = health(fixture(name))

    assert got_status == status
    assert got_message.startswith(message)


def test_fixtures_are_valid_batchjobs() -> None:
    names = sorted(path.stem for path in FIXTURES.glob("*.json"))

    assert len(names) == 11
    for name in names:
        BatchJob.model_validate(fixture(name))


@pytest.mark.parametrize("name", sorted(path.stem for path in FIXTURES.glob("*.json")))
def test_argo_cd_and_kstatus_agree(name: str) -> None:
    argo = health(fixture(name))[0]

    expected = {"Healthy": "Current", "Degraded": "Failed"}.get(argo, "InProgress")
    if name == "new":
        # kstatus calls an object without status Current (nothing says otherwise) until
        # the operator's first write; Argo CD's check knows better. docs/operations.md.
        expected = "Current"
    assert kstatus(fixture(name)) == expected


def test_a_finished_job_with_a_newer_spec_is_progressing_until_observed() -> None:
    job = fixture("succeeded")
    job["metadata"]["generation"] = 2

    assert health(job)[0] == "Progressing"
    job["status"]["observedGeneration"] = 2
    assert health(job)[0] == "Healthy"


def test_sandbox_rejects_the_string_library() -> None:
    # Proves the sandbox is as strict as Argo CD's: the shipped script passes only
    # because it uses base functions.
    with pytest.raises(Exception, match="string"):
        health(fixture("running"), script='return {status = string.upper("x")}')


def test_argocd_cm_snippet_embeds_the_script_verbatim() -> None:
    config_map = yaml.safe_load(ARGOCD_CM.read_text())

    assert config_map["metadata"]["name"] == "argocd-cm"
    assert config_map["data"][HEALTH_KEY] == SCRIPT.read_text()
