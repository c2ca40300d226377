"""The CRD generator: pydantic schema -> structural schema -> CustomResourceDefinition."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from taskmill.api import crdgen
from taskmill.api.batchjob import BATCHJOB_CRD
from taskmill.api.common import ApiModel
from taskmill.api.meta import CATEGORY, GROUP, VERSION, CrdInfo
from taskmill.api.task import TASK_CRD

REPO = Path(__file__).resolve().parents[3]
CRDS = [crdgen.custom_resource_definition(model, info) for model, info in crdgen.KINDS]
KIND_IDS = [info.kind for _, info in crdgen.KINDS]


def openapi_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path: properties, array items and map values."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


# --- the conversion rules, on small models built for each rule ----------------------


TYPE_RULE: JsonDict = {"rule": "self.size < 10"}
FIELD_RULE: JsonDict = {"rule": "self == oldSelf"}


class Inner(ApiModel):
    """Inner doc."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [TYPE_RULE]})

    size: int = Field(default=1, ge=1, description="Size.")


class Sample(ApiModel):
    """Sample doc."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": "true"}],
            "oneOf": [{"required": ["maybeCount"]}, {"required": ["maybeInner"]}],
        }
    )

    required_name: str = Field(max_length=8, description="Required.")
    maybe_count: int | None = Field(default=None, ge=0, description="Optional int.")
    maybe_inner: Inner | None = Field(
        default=None,
        description="Optional model.",
        json_schema_extra={"x-kubernetes-validations": [FIELD_RULE]},
    )
    inner: Inner = Field(
        default_factory=Inner,
        description="Nested model.",
        json_schema_extra={"default": {}, "x-kubernetes-validations": [FIELD_RULE]},
    )
    anything: dict[str, Any] = Field(default_factory=dict, description="Free-form object.")
    labels: dict[str, str] = Field(default_factory=dict, description="String map.")
    values: list[Any] = Field(default_factory=list, max_length=4, description="Any JSON.")
    names: list[str] = Field(
        default_factory=list,
        max_length=4,
        description="Bounded names.",
        json_schema_extra={"items": {"maxLength": 5}, "x-kubernetes-list-type": "set"},
    )
    maybe_names: list[str] | None = Field(
        default=None, max_length=2, description="Optional names.", json_schema_extra={"items": {}}
    )
    when: Any = Field(default=None, description="Anything at all.")


SAMPLE = crdgen.structural_schema(Sample)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param(
            "requiredName",
            {"type": "string", "maxLength": 8, "description": "Required."},
            id="plain field, title dropped",
        ),
        pytest.param(
            "maybeCount",
            {"type": "integer", "minimum": 0, "nullable": True, "description": "Optional int."},
            id="Optional -> nullable, default null dropped",
        ),
        pytest.param(
            "maybeInner",
            {
                "type": "object",
                "nullable": True,
                "description": "Optional model.",
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "default": 1, "description": "Size."}
                },
                "x-kubernetes-validations": [TYPE_RULE, FIELD_RULE],
            },
            id="Optional model inlined: field description wins, CEL rules add up",
        ),
        pytest.param(
            "inner",
            {
                "type": "object",
                "default": {"size": 1},
                "description": "Nested model.",
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "default": 1, "description": "Size."}
                },
                "x-kubernetes-validations": [TYPE_RULE, FIELD_RULE],
            },
            id="$ref inlined: CEL rules add up; default {} spelled out from the properties",
        ),
        pytest.param(
            "anything",
            {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "description": "Free-form object.",
            },
            id="dict[str, Any] -> preserve unknown fields",
        ),
        pytest.param(
            "labels",
            {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "String map.",
            },
            id="typed map keeps its value schema",
        ),
        pytest.param(
            "values",
            {
                "type": "array",
                "maxItems": 4,
                "items": {"x-kubernetes-preserve-unknown-fields": True},
                "description": "Any JSON.",
            },
            id="list[Any] items -> preserve unknown fields",
        ),
        pytest.param(
            "names",
            {
                "type": "array",
                "maxItems": 4,
                "items": {"type": "string", "maxLength": 5},
                "x-kubernetes-list-type": "set",
                "description": "Bounded names.",
            },
            id="items override merged into the generated item schema",
        ),
        pytest.param(
            "maybeNames",
            {
                "type": "array",
                "maxItems": 2,
                "nullable": True,
                "items": {"type": "string"},
                "description": "Optional names.",
            },
            id="items override on an Optional list",
        ),
        pytest.param(
            "when",
            {"x-kubernetes-preserve-unknown-fields": True, "description": "Anything at all."},
            id="Any -> untyped, preserve unknown fields",
        ),
    ],
)
def test_conversion_rules(field: str, expected: dict[str, Any]) -> None:
    assert SAMPLE["properties"][field] == expected


def test_model_level_extras_and_required_stay_on_the_object() -> None:
    assert SAMPLE["x-kubernetes-validations"] == [{"rule": "true"}]
    # A junctor that only constrains values (no types) is structural.
    assert SAMPLE["oneOf"] == [{"required": ["maybeCount"]}, {"required": ["maybeInner"]}]
    assert SAMPLE["required"] == ["requiredName"]
    assert SAMPLE["description"] == "Sample doc."
    assert SAMPLE["type"] == "object"


def test_a_real_union_is_rejected_with_its_path() -> None:
    class Union(ApiModel):
        either: int | str = Field(description="Not structural.")

    with pytest.raises(ValueError, match=r"Union\.either: anyOf"):
        crdgen.structural_schema(Union)


# --- properties of the generated CRDs ------------------------------------------------


@pytest.mark.parametrize("crd", CRDS, ids=KIND_IDS)
def test_schema_is_structural(crd: dict[str, Any]) -> None:
    for path, node in walk(openapi_schema(crd)):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        for key in ("$ref", "$defs", "title", "const"):
            assert key not in node, f"{path}: {key}"
        for junctor in ("anyOf", "oneOf", "allOf", "not"):
            for branch in node.get(junctor, []):
                assert set(branch) <= {"required"}, f"{path}: {junctor} types a value"
        assert node.get("additionalProperties", {}) is not True, path
        assert "default" not in node or node["default"] is not None, path
        if node.get("nullable"):
            assert "default" not in node, f"{path}: nullable fields default to absent"


@pytest.mark.parametrize("crd", CRDS, ids=KIND_IDS)
def test_every_property_has_a_description(crd: dict[str, Any]) -> None:
    for path, node in walk(openapi_schema(crd)):
        for name, sub in node.get("properties", {}).items():
            if f"{path}.{name}" == ".metadata":
                continue  # the API server owns metadata's schema and forbids one here
            assert sub.get("description"), f"{path}.{name} has no description"


@pytest.mark.parametrize("crd", CRDS, ids=KIND_IDS)
def test_lists_and_strings_are_bounded_for_the_cel_cost_budget(crd: dict[str, Any]) -> None:
    """The API server estimates a rule's cost from these bounds; unbounded ones blow it."""
    root = openapi_schema(crd)
    for path, node in walk(root):
        if node.get("type") == "array":
            assert "maxItems" in node, path
        if node.get("type") == "string" and path not in (".apiVersion", ".kind"):
            assert {"maxLength", "enum", "format"} & set(node), path


CLUSTER_SCOPED = ("StatusPolicy", "ClusterJobView")


@pytest.mark.parametrize(("model", "info"), crdgen.KINDS, ids=KIND_IDS)
def test_crd_metadata_comes_from_crd_info(model: type[ApiModel], info: CrdInfo) -> None:
    crd = crdgen.custom_resource_definition(model, info)
    spec = crd["spec"]
    (version,) = spec["versions"]
    assert crd["metadata"]["name"] == f"{info.plural}.{GROUP}"
    assert spec["group"] == GROUP
    assert spec["scope"] == info.scope
    assert info.scope == ("Cluster" if info.kind in CLUSTER_SCOPED else "Namespaced")
    assert spec["names"] == {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
        "shortNames": list(info.short_names),
        "categories": [CATEGORY] if info.in_category else [],
    }
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    # Saved views are plain configuration: no status, no status subresource.
    has_status = info.kind not in ("JobView", "ClusterJobView")
    assert version["subresources"] == ({"status": {}} if has_status else {})
    columns = [
        (c["name"], c["jsonPath"], c.get("priority", 0))
        for c in version["additionalPrinterColumns"]
    ]
    assert columns == [(c.name, c.json_path, c.priority) for c in info.printer_columns]
    assert [f["jsonPath"] for f in version.get("selectableFields", [])] == list(
        info.selectable_fields
    )
    root = version["schema"]["openAPIV3Schema"]
    expected = {"apiVersion", "kind", "metadata", "spec"} | ({"status"} if has_status else set())
    assert set(root["properties"]) == expected
    assert root["properties"]["metadata"] == {"type": "object"}
    assert root["required"] == ["spec"]
    assert root.get("x-kubernetes-validations", []) == list(info.root_validations)


def test_design_columns_short_names_and_selectable_fields() -> None:
    """The names DESIGN §2 promises users and providers."""
    assert BATCHJOB_CRD.short_names == ("bj",)
    assert TASK_CRD.short_names == ("tmt",)
    job_columns = {c.name: c.priority for c in BATCHJOB_CRD.printer_columns}
    assert (
        job_columns.items()
        >= {"Status": 0, "Progress": 0, "Capability": 0, "Priority": 1, "Age": 0}.items()
    )
    task_columns = {c.name: c.priority for c in TASK_CRD.printer_columns}
    assert (
        task_columns.items()
        >= {"Status": 0, "Holder": 0, "Attempts": 0, "Capability": 0, "Age": 0}.items()
    )
    assert {".status.phase", ".spec.capability"} <= set(TASK_CRD.selectable_fields)


def test_task_status_defaults_make_a_new_task_pending_and_free() -> None:
    """A Task is created without status; the schema's defaults must fill in the lease."""
    root = openapi_schema(crdgen.custom_resource_definition(*crdgen.KINDS[1]))
    status = root["properties"]["status"]
    assert status["default"]["phase"] == status["properties"]["phase"]["default"] == "Pending"
    assert status["default"]["attempts"] == 0
    lease = status["properties"]["lease"]
    assert status["default"]["lease"] == lease["default"] == {"holder": "", "epoch": 0}


# --- output: deterministic, committed, fresh -----------------------------------------


def test_output_is_deterministic() -> None:
    first = crdgen.generate()
    assert first == crdgen.generate()
    assert sorted(first) == sorted(f"{GROUP}_{info.plural}.yaml" for _, info in crdgen.KINDS)
    for text in first.values():
        assert text.startswith(crdgen.HEADER)
        assert "do not edit" in crdgen.HEADER
        assert "&id0" not in text  # no YAML anchors: every value written out in full


def test_rendering_does_not_depend_on_key_order() -> None:
    crd = CRDS[0]
    reversed_crd = _reverse_keys(crd)
    assert list(reversed_crd) != list(crd)
    assert crdgen.render(reversed_crd) == crdgen.render(crd)


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reverse_keys(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [_reverse_keys(item) for item in value]
    return value


def test_rendered_yaml_round_trips() -> None:
    for (model, info), (name, text) in zip(crdgen.KINDS, crdgen.generate().items(), strict=True):
        assert info.plural in name
        assert yaml.safe_load(text) == crdgen.custom_resource_definition(model, info)


def test_committed_crds_are_fresh() -> None:
    assert crdgen.stale(REPO) == [], "run `make crds`"


def test_check_command_passes_on_the_repo() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "taskmill.api.crdgen", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_with_a_diff_when_a_copy_is_stale(tmp_path: Path) -> None:
    assert crdgen.main(["--root", str(tmp_path)]) == 0
    chart_copy = tmp_path / "charts/taskmill/files/crds/taskmill.io_tasks.yaml"
    chart_copy.write_text(chart_copy.read_text().replace("shortNames:", "shortNamez:"))
    assert crdgen.main(["--root", str(tmp_path), "--check"]) == 1
    diffs = crdgen.stale(tmp_path)
    assert len(diffs) == 1
    assert "-    shortNamez:" in diffs[0]
    assert "+    shortNames:" in diffs[0]
    assert "charts/taskmill/files/crds/taskmill.io_tasks.yaml (committed)" in diffs[0]


def test_written_copies_are_identical(tmp_path: Path) -> None:
    crdgen.main(["--root", str(tmp_path)])
    for name in crdgen.generate():
        assert (tmp_path / "crds" / name).read_bytes() == (
            tmp_path / "charts/taskmill/files/crds" / name
        ).read_bytes()
