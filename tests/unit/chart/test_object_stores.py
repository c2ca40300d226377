"""objectStores: the providers' stores file rendered once, mounted into every pool with
each store's credentials Secret, and read back by the provider's own parser."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from taskmill.files.stores import parse_stores
from tests.unit.chart.helm import Manifest, find, one, render, template

MAIN = {
    "endpoint": "https://s3.eu-west-1.amazonaws.com",
    "bucket": "my-batch-data",
    "region": "eu-west-1",
    "credentialsSecret": "store-main",
}
STORES: dict[str, Any] = {
    "default": "main",
    "stores": {
        "main": MAIN,
        "scratch": {
            "endpoint": "http://seaweedfs.storage:8333",
            "bucket": "taskmill",
            "credentialsSecret": "store-scratch",
        },
    },
}
POOLS = [
    {"name": "hashers", "capabilities": ["file.hash"], "command": ["sha256sum"]},
    {"name": "sdk", "capabilities": ["img.resize"], "module": "myapp.providers"},
]


def pod(deployment: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def test_stores_render_a_file_the_provider_reads_mounted_with_each_secret() -> None:
    objects = render({"objectStores": STORES, "providers": {"pools": POOLS}})
    config = one(objects, "ConfigMap", "-stores")
    stores = parse_stores(yaml.safe_load(config["data"]["stores.yaml"]))

    assert stores.default == "main"
    main, scratch = stores.get("main"), stores.get("scratch")
    assert (main.endpoint, main.bucket, main.region) == (
        "https://s3.eu-west-1.amazonaws.com",
        "my-batch-data",
        "eu-west-1",
    )
    assert scratch.region == "us-east-1"
    deployments = find(objects, "Deployment", "-hashers") + find(objects, "Deployment", "-sdk")
    assert len(deployments) == 2, "command and SDK pools alike"
    for deployment in deployments:
        spec = pod(deployment)
        (provider,) = spec["containers"]
        env = {e["name"]: e.get("value") for e in provider["env"]}
        mounts = {m["name"]: m for m in provider["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        # The provider finds the file where the ConfigMap is mounted...
        stores_file = Path(env["TASKMILL_STORES"])
        config_mount = mounts["object-stores"]
        assert (str(stores_file.parent), stores_file.name) == (
            config_mount["mountPath"],
            "stores.yaml",
        )
        assert volumes["object-stores"]["configMap"]["name"] == config["metadata"]["name"]
        # ... and each store's credentials where the file says, from that store's Secret.
        for store in (main, scratch):
            mount = mounts[f"store-{store.name}"]
            assert (Path(mount["mountPath"]), mount["readOnly"]) == (store.credentials, True)
            secret = volumes[f"store-{store.name}"]["secret"]
            assert secret["secretName"] == STORES["stores"][store.name]["credentialsSecret"]
            assert {i["key"] for i in secret["items"]} == {"accessKeyId", "secretAccessKey"}
    assert not find(objects, "Secret"), "the chart never holds a credential"


def test_a_changed_stores_file_rolls_the_pools() -> None:
    def checksum(values: dict[str, Any]) -> str:
        objects = render({"objectStores": values, "providers": {"pools": POOLS[:1]}})
        annotations = one(objects, "Deployment", "-hashers")["spec"]["template"]["metadata"]
        found: str = annotations["annotations"]["checksum/object-stores"]
        return found

    moved = {**STORES, "default": "scratch"}
    assert checksum(STORES) != checksum(moved)


def test_without_stores_pools_get_no_stores_file() -> None:
    objects = render({"providers": {"pools": POOLS}})

    assert not find(objects, "ConfigMap", "-stores")
    for deployment in find(objects, "Deployment", "-hashers") + find(objects, "Deployment", "-sdk"):
        (provider,) = pod(deployment)["containers"]
        assert "TASKMILL_STORES" not in {e["name"] for e in provider["env"]}
        assert [v["name"] for v in pod(deployment)["volumes"]] == ["tmp"]


@pytest.mark.parametrize(
    ("stores", "message"),
    [
        (
            {**STORES, "default": "nope"},
            'objectStores.default: "nope" is not among objectStores.stores (main, scratch)',
        ),
        (
            {"stores": {"main": {"endpoint": "http://x:1", "bucket": "abc"}}},
            "at '/objectStores/stores/main': missing property 'credentialsSecret'",
        ),
        (
            {"stores": {"Main": MAIN}},
            "'Main' does not match pattern",
        ),
        (
            {"stores": {"main": {**MAIN, "endpoint": "s3.amazonaws.com"}}},
            "at '/objectStores/stores/main/endpoint': 's3.amazonaws.com' does not match",
        ),
    ],
)
def test_bad_stores_fail_the_render_naming_the_value(stores: dict[str, Any], message: str) -> None:
    done = template({"objectStores": stores})

    assert done.returncode != 0
    assert message in done.stderr
