"""`kubectl taskmill` run as kubectl runs plugins, against the local control plane."""

import json
import urllib.error
import urllib.request

import pytest

from tests.builders import make_batchjob
from tests.integration.status.kit import job_manifest
from tests.integration.views.conftest import Estate

pytestmark = pytest.mark.integration


def items(body: dict[str, object]) -> dict[str, dict[str, object]]:
    listed = body["items"]
    assert isinstance(listed, list)
    return {f"{i['kind']}/{i['name']}": i for i in listed}


def test_status_lists_every_kind_with_its_provenance(estate: Estate) -> None:
    got = items(estate.json("status", "-n", estate.namespace))
    assert {k: v["normalizedStatus"] for k, v in got.items()} == {
        "BatchJob/resize": "Waiting",
        "BatchJob/paused": "OnHold",
        "Task/resize-0": "Waiting",
        "Job/etl": "Running",
        "Job/broken": "Failure",
    }
    broken = got["Job/broken"]
    assert (broken["policy"], broken["rule"], broken["namespace"]) in {
        ("builtin", "failed", estate.namespace),
        ("default", "failed", estate.namespace),
    }


def test_filters_sort_and_wide_output(estate: Estate) -> None:
    ns = ("-n", estate.namespace)
    only = items(estate.json("status", *ns, "--status", "Failure", "--status", "OnHold"))
    assert set(only) == {"Job/broken", "BatchJob/paused"}
    assert set(items(estate.json("status", *ns, "--kind", "job"))) == {"Job/etl", "Job/broken"}
    assert set(items(estate.json("status", *ns, "--name", "res"))) == {
        "BatchJob/resize",
        "Task/resize-0",
    }

    by_severity = estate.plugin("status", *ns)
    assert by_severity.returncode == 0, by_severity.stderr
    lines = by_severity.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "KIND", "NAMESPACE", "STATUS"]
    assert [line.split()[3] for line in lines[1:]] == [
        "Failure",
        "OnHold",
        "Waiting",
        "Waiting",
        "Running",
    ]
    by_name = estate.plugin("status", *ns, "--sort-by", "name").stdout.splitlines()[1:]
    assert [line.split()[0] for line in by_name] == sorted(line.split()[0] for line in by_name)
    wide = estate.plugin("status", *ns, "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-2:] == ["POLICY", "RULE"]


def test_a_saved_view(estate: Estate) -> None:
    view = {
        "apiVersion": "taskmill.io/v1alpha1",
        "kind": "JobView",
        "metadata": {"name": "attention", "namespace": estate.namespace},
        "spec": {
            "statuses": ["Failure", "OnHold"],
            "sortBy": "NAME",
            "columns": ["NAME", "STATUS"],
        },
    }
    estate.cluster.kubectl("apply", "-f", "-", input=json.dumps(view))
    shown = estate.plugin("status", "-n", estate.namespace, "--view", "attention")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["NAME", "STATUS", "broken", "Failure", "paused", "OnHold"]


def test_alerts_dashboard_and_why(estate: Estate) -> None:
    ns = ("-n", estate.namespace)
    found = estate.json("alerts", *ns)["items"]
    assert isinstance(found, list)
    subjects = [(a["severity"], a["subject"]) for a in found]
    assert subjects[:2] == [
        ("critical", "capability/image.resize"),  # a backlog no provider serves
        ("critical", f"Job/{estate.namespace}/broken"),
    ]
    board = estate.json("dashboard", *ns)
    assert board["byStatus"] == {"Failure": 1, "OnHold": 1, "Waiting": 2, "Running": 1}
    assert board["capabilities"] == [
        {"capability": "image.resize", "pending": 1, "running": 0, "providers": 0, "freeSlots": 0}
    ]
    why = estate.plugin("why", "paused", *ns)
    assert why.returncode == 0, why.stderr
    assert "- suspended: spec.suspend is set" in why.stdout
    assert "- no provider for the capability: no live provider serves image.resize" in why.stdout
    text = estate.plugin("dashboard", *ns)
    assert "CAPABILITIES" in text.stdout
    assert "image.resize" in text.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("status", "--frobnicate"), 2, "unrecognized arguments: --frobnicate"),
        (("status", "--status", "Broken"), 1, "--status 'Broken': not one of"),
        (("status", "-l", "a b c"), 1, "error: the API server refused"),
        (("status", "--view", "nope"), 1, "unknown view 'nope': no JobView views-test-plugin/nope"),
        (("status", "--sort-by", "colour"), 1, "--sort-by 'colour': not one of"),
        (("why", "ghost"), 1, "no BatchJob named 'ghost' in namespace views-test-plugin"),
    ],
)
def test_bad_input_names_the_problem(
    estate: Estate, args: tuple[str, ...], code: int, message: str
) -> None:
    done = estate.plugin(*args, "-n", estate.namespace)
    assert done.returncode == code
    assert message in done.stderr


def test_a_kind_you_may_not_list_is_named_not_shown_empty(estate: Estate) -> None:
    done = estate.plugin("status", "-n", estate.namespace, user="nobody-views")
    assert done.returncode == 0, done.stderr
    assert "warning: you may not list Job.batch; it is not shown" in done.stderr
    assert "may not list statuspolicies: the built-in default applies" in done.stderr
    assert "No workloads found." in done.stdout


def test_the_ui_acts_as_the_user_its_proxy_names_only_when_told(estate: Estate) -> None:
    with estate.ui("--user-header", "X-Remote-User", "--group-header", "X-Remote-Group") as url:

        def get(headers: dict[str, str]) -> tuple[int, dict[str, object]]:
            request = urllib.request.Request(url + "api/status", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, {}

        assert get({})[0] == 401  # no proxy identity: nothing at all
        status, nobody = get({"X-Remote-User": "nobody-ui", "X-Remote-Group": "a, b"})
        assert status == 200
        assert nobody["viewer"] == "nobody-ui"
        assert nobody["items"] == []
        denied = nobody["denied"]
        assert isinstance(denied, list)
        assert "Job.batch" in denied


def test_the_api_server_filters_batchjobs_by_normalized_status(estate: Estate) -> None:
    ns = estate.namespace
    job = make_batchjob("selected").namespace(ns).items(1).obj()
    estate.cluster.kubectl("create", "-f", "-", input=json.dumps(job))
    written = {
        "status": {"phase": "Failed", "normalizedStatus": "Failure", "observedGeneration": 1}
    }
    estate.cluster.kubectl(
        "patch",
        "bj",
        "selected",
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(written),
    )
    try:
        got = estate.cluster.kubectl(
            "get",
            "bj",
            "-n",
            ns,
            "-o",
            "name",
            "--field-selector",
            "status.normalizedStatus=Failure",
        )
        assert got.stdout.split() == ["batchjob.taskmill.io/selected"]
    finally:
        estate.cluster.kubectl("delete", "bj", "selected", "-n", ns)


def test_watch_prints_again_when_something_changes(estate: Estate) -> None:
    with estate.running("status", "-w", "-n", estate.namespace, "--kind", "Job") as output:
        first = [output.readline() for _ in range(3)]  # header, broken, etl
        assert first[0].split()[0] == "NAME"
        estate.cluster.kubectl(
            "create", "-n", estate.namespace, "-f", "-", input=job_manifest("watched")
        )
        seen = ""
        while "watched" not in seen:  # the next table comes only after the change
            line = output.readline()
            assert line, "the watch ended"
            seen += line
