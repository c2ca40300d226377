"""The arguments the chart renders are ones the operator and provider CLIs accept.

The chart and the CLIs are written separately; this parses the rendered container
args with the real argument parsers, so a renamed flag fails here, not in a pod.
"""

import pytest
from taskmill.operator import __main__ as operator_main
from taskmill.operator import logs
from taskmill.provider.cli import parse_args as parse_provider_args

from tests.unit.chart.helm import Manifest, one, render
from tests.unit.chart.test_render import POOLS, container

NS = "taskmill"


@pytest.fixture(autouse=True)
def no_logging_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    # The operator's parse_args configures the root logger; keep pytest's handlers.
    monkeypatch.setattr(logs, "configure", lambda *_, **__: None)


def module_args(deployment: Manifest, module: str) -> list[str]:
    main = container(deployment)
    assert main["command"][-3:] == ["python", "-m", module]
    return list(main["args"])


@pytest.mark.parametrize(
    ("values", "namespace"),
    [({}, None), ({"operator": {"allNamespaces": False, "watchNamespace": "jobs"}}, "jobs")],
)
def test_operator_accepts_the_rendered_args(
    values: dict[str, object], namespace: str | None
) -> None:
    deployment = one(render(values), "Deployment", "-operator")

    config = operator_main.parse_args(module_args(deployment, "taskmill.operator"))

    assert config.namespace == namespace
    assert config.liveness_port == 8081
    assert config.lease_namespace == NS


def test_providers_accept_the_rendered_args() -> None:
    objects = render({"providers": {"pools": POOLS}})
    env = {"POD_NAME": "tm-taskmill-hashers-7d9-x2x", "POD_NAMESPACE": NS}

    hashers = module_args(one(objects, "Deployment", "-hashers"), "taskmill.provider")
    config, command = parse_provider_args(hashers, env)
    assert sorted(config.capabilities) == ["file.checksum", "file.hash"]
    assert config.concurrency == 4
    assert config.namespace == NS
    assert config.identity == env["POD_NAME"]
    assert command == ["sh", "-c", "sha256sum"]

    resizers = module_args(one(objects, "Deployment", "-resizers"), "taskmill.provider")
    config, command = parse_provider_args(resizers, env)
    assert config.grace_seconds == 300
    assert config.kill_grace_seconds == 2.5
    assert config.lease_seconds == 60
    assert command == ["resize"]
