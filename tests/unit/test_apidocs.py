"""hack/apidocs.py: the API reference lists every field of every API type."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from taskmill.api import BatchJob, Task
from tests.harness.versions import REPO_ROOT


def load_apidocs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apidocs", REPO_ROOT / "hack" / "apidocs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_models(model: type[BaseModel], apidocs: ModuleType) -> set[type[BaseModel]]:
    found = {model}
    for field in model.model_fields.values():
        for nested in apidocs.nested_models(field.annotation):
            if nested.__name__ != "ObjectMeta":
                found |= all_models(nested, apidocs)
    return found


def sections(text: str) -> dict[str, dict[str, list[str]]]:
    """Heading -> {field wire name -> its table cells}."""
    found: dict[str, dict[str, list[str]]] = {}
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            rows = found.setdefault(line.lstrip("#").strip(), {})
        elif line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    return found


def test_every_field_of_every_type_has_a_row_with_type_default_and_description() -> None:
    apidocs = load_apidocs()
    documented = sections(apidocs.render())

    models = all_models(BatchJob, apidocs) | all_models(Task, apidocs)
    assert len(models) > 10
    for model in models:
        name = {BatchJob: "BatchJob", Task: "Task"}.get(model, model.__name__)
        rows = documented[name]
        for field_name, field in model.model_fields.items():
            wire = field.alias or field_name
            if wire in ("apiVersion", "kind", "metadata"):
                continue
            cells = rows.get(wire)
            assert cells is not None, f"{name}.{wire} is missing"
            assert len(cells) == 4, cells
            assert all(cells), f"{name}.{wire} has an empty cell: {cells}"


def test_check_mode_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apidocs = load_apidocs()
    stale = tmp_path / "api.md"
    stale.write_text("# outdated\n")
    monkeypatch.setattr(apidocs, "OUTPUT", stale)

    assert apidocs.main(["--check"]) == 1
    assert apidocs.main([]) == 0
    assert apidocs.main(["--check"]) == 0
