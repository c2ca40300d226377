"""What charts/taskmill renders for several value sets: RBAC, pods, policies, CRDs.

Each test renders with the pinned helm and checks the parsed objects, so a template
change that widens a permission, drops a probe or loses a policy rule fails here
before it reaches a cluster (tests/integration/test_chart.py installs it for real).
"""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskmill.status import default_policy_text
from tests.harness.versions import REPO_ROOT
from tests.unit.chart.helm import (
    CHART,
    KUBE_VERSION,
    Manifest,
    find,
    helm,
    one,
    render,
    template,
    values_file,
)

NS = "taskmill"
PROVIDER_SA = "tm-taskmill-provider"
POOLS = [
    {
        "name": "hashers",
        "capabilities": ["file.hash", "file.checksum"],
        "command": ["sh", "-c", "sha256sum"],
        "maxReplicas": 3,
        "concurrency": 4,
        "env": [{"name": "EXTRA", "value": "1"}],
    },
    {
        "name": "resizers",
        "capabilities": ["image.resize"],
        "command": ["resize"],
        "image": {"repository": "example.org/resizer", "tag": "2.0"},
        "graceSeconds": 300,
        "killGraceSeconds": 2.5,
        "leaseSeconds": 60,
    },
]

TASKMILL_WRITES = ["create", "update", "patch", "delete", "deletecollection"]


def allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    """Whether RBAC rules grant verb on group/resource (wildcards included)."""
    return any(
        (group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", []))
        and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
        and (verb in rule.get("verbs", []) or "*" in rule.get("verbs", []))
        for rule in rules
    )


def granted_rules(objects: list[Manifest], service_account: str) -> list[dict[str, Any]]:
    """Every rule bound to the service account, through any Role or ClusterRole."""
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"].endswith("Role")}
    rules: list[dict[str, Any]] = []
    for binding in (o for o in objects if o["kind"].endswith("RoleBinding")):
        if any(s["name"] == service_account for s in binding["subjects"]):
            ref = binding["roleRef"]
            rules += roles[(ref["kind"], ref["name"])]["rules"]
    return rules


def pod_specs(objects: list[Manifest]) -> list[dict[str, Any]]:
    return [o["spec"]["template"]["spec"] for o in find(objects, "Deployment")]


def container(deployment: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    (only,) = containers
    return only


def test_chart_passes_helm_lint() -> None:
    value_sets: list[dict[str, Any]] = [
        {},
        {"providers": {"pools": POOLS}},
        {"operator": {"allNamespaces": False}, "metrics": {"enabled": True}},
    ]
    for values in value_sets:
        with values_file(values) as path:
            done = helm(
                "lint",
                str(CHART),
                "--strict",
                "--kube-version",
                KUBE_VERSION,
                "--values",
                str(path),
            )
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_object_carries_the_release_labels() -> None:
    for obj in render({"providers": {"pools": POOLS}}):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "tm", obj["metadata"]["name"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_providers_may_only_read_tasks_patch_their_status_and_keep_leases() -> None:
    rules = granted_rules(render(), PROVIDER_SA)

    for verb in ("get", "list", "watch"):
        assert allows(rules, "taskmill.io", "tasks", verb)
    assert allows(rules, "taskmill.io", "tasks/status", "patch")
    for verb in ("create", "get", "patch", "update", "delete"):
        assert allows(rules, "coordination.k8s.io", "leases", verb)

    for verb in TASKMILL_WRITES:
        assert not allows(rules, "taskmill.io", "tasks", verb), verb
        assert not allows(rules, "taskmill.io", "batchjobs", verb), verb
    assert not allows(rules, "taskmill.io", "tasks/status", "update")
    assert not allows(rules, "taskmill.io", "batchjobs", "get")
    assert not allows(rules, "", "secrets", "get")
    assert not allows(rules, "", "pods", "get")
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)


def test_operator_gets_what_it_needs_and_no_more() -> None:
    objects = render()
    rules = granted_rules(objects, "tm-taskmill-operator")

    needed = {
        ("taskmill.io", "batchjobs"): ["get", "list", "watch", "patch", "delete"],
        ("taskmill.io", "batchjobs/status"): ["patch"],
        ("taskmill.io", "tasks"): ["get", "list", "watch", "create", "patch", "delete"],
        ("taskmill.io", "tasks/status"): ["patch"],
        ("", "events"): ["create"],
        ("coordination.k8s.io", "leases"): ["get", "list", "watch", "create", "update"],
    }
    for (group, resource), verbs in needed.items():
        for verb in verbs:
            assert allows(rules, group, resource, verb), (group, resource, verb)
    assert not allows(rules, "taskmill.io", "batchjobs", "create")
    # StatusPolicies: it reads them and writes only their status.
    assert allows(rules, "taskmill.io", "statuspolicies", "watch")
    assert allows(rules, "taskmill.io", "statuspolicies/status", "patch")
    assert not allows(rules, "taskmill.io", "statuspolicies", "patch")
    assert not allows(rules, "", "secrets", "get")
    assert not allows(rules, "apiextensions.k8s.io", "customresourcedefinitions", "list")
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)
    # Lease writes (its leader Lease) are namespaced; cluster-wide it only reads Leases.
    cluster_role = one(objects, "ClusterRole", "-operator")
    assert not allows(cluster_role["rules"], "coordination.k8s.io", "leases", "update")
    assert allows(cluster_role["rules"], "coordination.k8s.io", "leases", "watch")


def test_a_namespaced_operator_gets_no_cluster_roles() -> None:
    objects = render({"operator": {"allNamespaces": False, "watchNamespace": "jobs"}})

    assert not find(objects, "ClusterRole")
    assert not find(objects, "ClusterRoleBinding")
    watch_role = one(objects, "Role", "-operator")
    assert watch_role["metadata"]["namespace"] == "jobs"
    assert allows(watch_role["rules"], "taskmill.io", "tasks", "create")
    args = container(one(objects, "Deployment", "-operator"))["args"]
    assert "--namespace=jobs" in args
    assert "--all-namespaces" not in args


def test_operator_deployment_runs_the_module_with_probes_on_the_liveness_port() -> None:
    objects = render({"operator": {"livenessPort": 9999, "replicas": 2}})
    deployment = one(objects, "Deployment", "-operator")
    main = container(deployment)

    assert deployment["spec"]["replicas"] == 2
    assert main["command"] == ["python", "-m", "taskmill.operator"]
    assert "--all-namespaces" in main["args"]
    assert "--liveness-port=9999" in main["args"]
    # The leader Lease must be where the chart grants Lease writes.
    assert f"--leader-lease-namespace={NS}" in main["args"]
    leader_role = one(objects, "Role", "-leader-election")
    assert leader_role["metadata"]["namespace"] == NS
    assert allows(leader_role["rules"], "coordination.k8s.io", "leases", "update")
    (port,) = (p for p in main["ports"] if p["name"] == "health")
    assert port["containerPort"] == 9999
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    # Ready: standing by, or leading with its watches synced and the API server reachable.
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert main["resources"]["requests"]
    assert main["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in main["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "tm-taskmill-operator"


def test_every_pod_meets_the_restricted_pod_security_profile() -> None:
    specs = pod_specs(render({"providers": {"pools": POOLS}}))

    assert len(specs) == 3
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["readOnlyRootFilesystem"] is True
            assert c["resources"]["requests"], c["name"]
            assert not spec.get("hostNetwork")
            assert not spec.get("hostPID")


def test_provider_pools_become_deployments_with_their_capabilities_and_identity() -> None:
    objects = render({"providers": {"pools": POOLS}})
    hashers = one(objects, "Deployment", "-hashers")
    resizers = one(objects, "Deployment", "-resizers")
    main = container(hashers)

    assert "replicas" not in hashers["spec"]  # the ProviderPool owns them
    assert main["command"] == ["tini", "--", "python", "-m", "taskmill.provider"]
    assert main["args"] == [
        "--capability=file.hash,file.checksum",
        "--concurrency=4",
        f"--namespace={NS}",
        "--grace-seconds=30",
        "--kill-grace-seconds=5",
        "--metrics-bind-address=:8080",
        "--health-port=8081",
        "--command",
        "sh",
        "-c",
        "sha256sum",
    ]
    env = {e["name"]: e for e in main["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["EXTRA"]["value"] == "1"
    assert main["image"] == "ghcr.io/taskmill/taskmill:0.1.0"
    spec = hashers["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == PROVIDER_SA
    # Long enough for running tasks (30s), stopping their commands (5s) and the hand-back.
    assert spec["terminationGracePeriodSeconds"] == 30 + 5 + 15

    assert container(resizers)["image"] == "example.org/resizer:2.0"
    assert container(resizers)["args"][:2] == ["--capability=image.resize", "--concurrency=1"]
    assert "--grace-seconds=300" in container(resizers)["args"]
    assert "--lease-seconds=60" in container(resizers)["args"]
    assert resizers["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 300 + 3 + 15
    selectors = [d["spec"]["selector"]["matchLabels"] for d in (hashers, resizers)]
    assert selectors[0] != selectors[1], "pools must not select each other's pods"


def test_autoscaled_pools_are_provider_pools_on_their_deployments() -> None:
    objects = render({"providers": {"pools": POOLS}})
    pool = one(objects, "ProviderPool", "-hashers")
    pdb = one(objects, "PodDisruptionBudget", "-hashers")
    hashers = one(objects, "Deployment", "-hashers")

    assert pool["spec"] == {
        "capabilities": ["file.hash", "file.checksum"],
        "concurrency": 4,
        "minReplicas": 0,
        "maxReplicas": 3,
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": hashers["metadata"]["name"],
        },
    }
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == hashers["spec"]["selector"]["matchLabels"]
    # Created after the release's CRDs exist (a first install fails otherwise: e2e).
    assert pool["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


def test_host_network_puts_operator_and_providers_on_the_node_network() -> None:
    objects = render({"hostNetwork": True, "providers": {"pools": POOLS}})
    pods = [d["spec"]["template"]["spec"] for d in find(objects, "Deployment")]
    assert pods
    for pod in pods:
        assert pod["hostNetwork"] is True
        assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    default = render({"providers": {"pools": POOLS}})
    assert not any(
        "hostNetwork" in d["spec"]["template"]["spec"] for d in find(default, "Deployment")
    )
    operator_rules = one(objects, "ClusterRole", "-operator")["rules"]
    assert allows(operator_rules, "apps", "deployments/scale", "patch") or any(
        "*/scale" in r["resources"] and "patch" in r["verbs"] for r in operator_rules
    )
    assert allows(operator_rules, "taskmill.io", "providerpools/status", "patch")


def test_a_typo_in_values_fails_with_the_key_named() -> None:
    done = template({"operator": {"replica": 2}})

    assert done.returncode != 0
    assert "at '/operator': additional properties 'replica' not allowed" in done.stderr


def test_a_fixed_pool_or_an_sdk_pool() -> None:
    fixed = {"name": "fixed", "capabilities": ["x"], "command": ["x"], "autoscaling": False}
    sdk = {
        "name": "sdk",
        "capabilities": ["y"],
        "module": "myapp.providers",
        "runtimeClassName": "gvisor",
        "volumes": [{"name": "models", "emptyDir": {}}],
        "volumeMounts": [{"name": "models", "mountPath": "/models"}],
    }
    objects = render({"providers": {"pools": [fixed, sdk]}})

    assert one(objects, "Deployment", "-fixed")["spec"]["replicas"] == 1
    assert not [
        o for o in find(objects, "ProviderPool") if o["metadata"]["name"].endswith("-fixed")
    ]
    spec = one(objects, "Deployment", "-sdk")["spec"]["template"]["spec"]
    assert spec["runtimeClassName"] == "gvisor"
    assert spec["containers"][0]["command"] == ["tini", "--", "python", "-m", "myapp.providers"]
    assert "args" not in spec["containers"][0]
    assert {"name": "models", "mountPath": "/models"} in spec["containers"][0]["volumeMounts"]


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        (
            {"name": "Bad_Name", "capabilities": ["x"], "command": ["x"]},
            "at '/providers/pools/0/name': 'Bad_Name' does not match pattern",
        ),
        (
            {"name": "p", "capabilities": [], "command": ["x"]},
            "at '/providers/pools/0/capabilities': minItems",
        ),
        (
            {"name": "p", "capabilities": ["x"], "command": ["x"], "maxReplica": 2},
            "at '/providers/pools/0': additional properties 'maxReplica' not allowed",
        ),
        ({"name": "p", "capabilities": ["x"]}, "command is required"),
        (
            {
                "name": "p",
                "capabilities": ["x"],
                "command": ["x"],
                "minReplicas": 4,
                "maxReplicas": 2,
            },
            "minReplicas (4) must not exceed maxReplicas (2)",
        ),
    ],
)
def test_an_invalid_pool_fails_the_render_with_a_message(
    pool: dict[str, Any], message: str
) -> None:
    done = template({"providers": {"pools": [pool]}})

    assert done.returncode != 0
    assert message in done.stderr


def test_admission_policy_binds_task_lease_writes_to_the_token_pod_name() -> None:
    objects = render({"admissionPolicy": {"extraProviderUsernames": ["system:serviceaccount:a:b"]}})
    policy = one(objects, "ValidatingAdmissionPolicy", "-task-lease")
    binding = one(objects, "ValidatingAdmissionPolicyBinding", "-task-lease")
    spec = policy["spec"]

    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["operations"] == ["UPDATE"]
    assert "tasks/status" in rule["resources"]
    (condition,) = spec["matchConditions"]
    assert f"system:serviceaccount:{NS}:{PROVIDER_SA}" in condition["expression"]
    assert "system:serviceaccount:a:b" in condition["expression"]
    variables = {v["name"]: v["expression"] for v in spec["variables"]}
    assert "request.userInfo.extra['authentication.kubernetes.io/pod-name']" in variables["pod"]
    expressions = " ".join(v["expression"] for v in spec["validations"])
    assert "object.spec == oldObject.spec" in expressions
    assert "variables.oldHolder == '' && variables.newHolder == variables.pod" in expressions
    assert "variables.oldHolder == variables.pod && variables.newHolder == ''" in expressions
    assert "object.spec.capability in object.status.lease.capabilities" in expressions
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }


def test_presence_policy_limits_providers_to_their_own_lease_name() -> None:
    policy = one(render(), "ValidatingAdmissionPolicy", "-provider-presence")

    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    assert "request.name == 'taskmill-provider-' + variables.pod" in expressions
    assert "object.spec.holderIdentity == variables.pod" in expressions


def test_cluster_scoped_names_include_the_namespace_so_releases_do_not_collide() -> None:
    first = render(namespace="team-a")
    second = render(namespace="team-b")
    cluster_scoped = ("ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy")

    names_a = {o["metadata"]["name"] for o in first if o["kind"].startswith(cluster_scoped)}
    names_b = {o["metadata"]["name"] for o in second if o["kind"].startswith(cluster_scoped)}
    assert names_a
    assert not names_a & names_b


def test_policies_can_be_switched_off_or_set_to_warn() -> None:
    assert not find(render({"admissionPolicy": {"enabled": False}}), "ValidatingAdmissionPolicy")
    warned = render({"admissionPolicy": {"validationActions": ["Warn", "Audit"]}})
    for binding in find(warned, "ValidatingAdmissionPolicyBinding"):
        assert binding["spec"]["validationActions"] == ["Warn", "Audit"]


def test_metrics_are_served_by_default_and_monitors_are_optional() -> None:
    defaults = render({"providers": {"pools": POOLS[:1]}})
    assert not find(defaults, "ServiceMonitor")
    assert not find(defaults, "PrometheusRule")
    service = one(defaults, "Service", "-operator-metrics")
    operator = container(one(defaults, "Deployment", "-operator"))
    pool = container(one(defaults, "Deployment", "-hashers"))
    for main in (operator, pool):
        assert "--metrics-bind-address=:8080" in main["args"]
        assert {"name": "metrics", "containerPort": 8080, "protocol": "TCP"} in main["ports"]

    objects = render(
        {"providers": {"pools": POOLS[:1]}, "metrics": {"serviceMonitor": {"enabled": True}}}
    )
    monitor = one(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert service["spec"]["selector"] == monitor["spec"]["selector"]["matchLabels"]
    pods = one(objects, "PodMonitor")
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert pods["spec"]["selector"]["matchLabels"].items() <= (
        one(objects, "Deployment", "-hashers")["spec"]["template"]["metadata"]["labels"].items()
    )


def test_a_pool_may_serve_metrics_on_a_port_of_its_own() -> None:
    # On the node's network the operator and each pool need distinct ports.
    pools = [{**POOLS[0], "metricsPort": 9101}, POOLS[1]]
    objects = render({"providers": {"pools": pools}, "metrics": {"port": 9100}})

    own, default = (container(one(objects, "Deployment", s)) for s in ("-hashers", "-resizers"))
    assert "--metrics-bind-address=:9101" in own["args"]
    assert {"name": "metrics", "containerPort": 9101, "protocol": "TCP"} in own["ports"]
    assert "--metrics-bind-address=:9100" in default["args"]
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in default["ports"]


def test_metrics_off_passes_zero_and_refuses_monitors() -> None:
    off = render({"metrics": {"enabled": False}})
    assert not find(off, "Service")
    assert "--metrics-bind-address=0" in container(one(off, "Deployment", "-operator"))["args"]

    done = template({"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}})
    assert done.returncode != 0
    assert "need metrics.enabled" in done.stderr


def test_prometheus_rule_and_dashboard_carry_the_files() -> None:
    objects = render(
        {"metrics": {"prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}}
    )
    rules = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    assert one(objects, "PrometheusRule")["spec"] == rules
    dashboard = one(objects, "ConfigMap", "-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["taskmill.json"])["uid"] == "taskmill-overview"


def test_providers_only_install_needs_no_operator_objects() -> None:
    objects = render({"operator": {"enabled": False}, "providers": {"pools": POOLS[:1]}})

    kinds = sorted({o["kind"] for o in objects})
    assert [d["metadata"]["name"] for d in find(objects, "Deployment")] == ["tm-taskmill-hashers"]
    assert "ClusterRole" not in kinds
    assert not [o for o in objects if o["metadata"]["name"].endswith("-operator")]


def test_chart_refuses_a_cluster_older_than_selectable_fields() -> None:
    done = template(kube_version="1.31.0")

    assert done.returncode != 0
    assert "kubeVersion" in done.stderr


def test_crds_are_templated_with_keep_so_upgrades_apply_and_uninstall_spares_them() -> None:
    crds = find(render(), "CustomResourceDefinition")

    generated = {
        c["metadata"]["name"]: c
        for c in (yaml.safe_load(path.read_text()) for path in (REPO_ROOT / "crds").glob("*.yaml"))
    }
    assert sorted(c["metadata"]["name"] for c in crds) == sorted(generated)
    for crd in crds:
        # Helm's fromYaml/toYaml round trip must not change the schema.
        assert crd["spec"] == generated[crd["metadata"]["name"]]["spec"]
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"

    for crd in find(render({"crds": {"keep": False}}), "CustomResourceDefinition"):
        assert "helm.sh/resource-policy" not in crd["metadata"].get("annotations", {})
    assert not find(render({"crds": {"install": False}}), "CustomResourceDefinition")


def test_chart_has_no_crds_dir_that_helm_would_install_unmanaged() -> None:
    assert not (CHART / "crds").exists()


def test_crds_in_both_places_fail_instead_of_conflicting(tmp_path: Path) -> None:
    chart = tmp_path / "taskmill"
    shutil.copytree(CHART, chart)
    shutil.copytree(CHART / "files" / "crds", chart / "crds")

    done = template(chart=chart)

    assert done.returncode != 0
    assert "exist in both files/crds/ and crds/" in done.stderr


def test_the_default_status_policy_is_the_builtin_one_installed_as_a_hook() -> None:
    policy = one(render(), "StatusPolicy")
    builtin = yaml.safe_load(default_policy_text())
    assert policy["spec"] == builtin["spec"]
    assert policy["metadata"]["name"] == builtin["metadata"]["name"] == "default"
    # Its CRD comes with the same release: only a hook runs late enough to create it.
    assert policy["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


def test_viewers_may_read_status_policies_through_the_aggregated_view_role() -> None:
    viewer = one(render(), "ClusterRole", "-statuspolicy-viewer")
    assert viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert allows(viewer["rules"], "taskmill.io", "statuspolicies", "list")
    assert not allows(viewer["rules"], "taskmill.io", "statuspolicies", "patch")


def test_a_namespaced_install_leaves_status_policies_to_the_cluster_admin() -> None:
    objects = render({"operator": {"allNamespaces": False, "watchNamespace": "jobs"}})
    assert not find(objects, "StatusPolicy")
    args = container(one(objects, "Deployment", "-operator"))["args"]
    assert "--no-review-status-policies" in args


def test_the_ui_is_read_only_and_impersonates_only_behind_a_named_proxy_header() -> None:
    assert not find(render(), "Deployment", "-ui")
    objects = render({"ui": {"enabled": True}})
    rules = granted_rules(objects, "tm-taskmill-ui")
    assert allows(rules, "taskmill.io", "batchjobs", "watch")
    assert allows(rules, "batch", "cronjobs", "list")
    assert not any(set(r["verbs"]) - {"get", "list", "watch"} for r in rules)
    assert not allows(rules, "", "secrets", "get")
    command = container(one(objects, "Deployment", "-ui"))["command"]
    assert command[:3] == ["kubectl-taskmill", "ui", "-A"]

    proxied = render({"ui": {"enabled": True, "userHeader": "X-Remote-User"}})
    assert allows(granted_rules(proxied, "tm-taskmill-ui"), "", "users", "impersonate")
    args = container(one(proxied, "Deployment", "-ui"))["args"]
    assert args == ["--user-header=X-Remote-User"]
