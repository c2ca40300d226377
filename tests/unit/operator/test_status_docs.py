"""docs/status.md documents what the code does: precedence, conditions and reasons."""

import re
from pathlib import Path

import pytest
from taskmill.operator import jobstatus, validation
from taskmill.operator.conditions import ConditionType

from taskmill.api import NormalizedStatus
from taskmill.status.adapters import batchjob
from tests.unit.status.test_batchjob_rules import ORDER

DOC = (Path(__file__).resolve().parents[3] / "docs" / "status.md").read_text()


def _table_rows(text: str) -> list[tuple[int, str]]:
    return [(int(n), v) for n, v in re.findall(r"^\|\s*(\d+) \| `(\w+)`", text, re.MULTILINE)]


def test_the_docs_and_the_code_document_the_same_precedence() -> None:
    expected = [(n, v.value) for n, v in enumerate(ORDER, start=1)]
    assert _table_rows(DOC) == expected
    assert _table_rows(batchjob.__doc__ or "") == expected


@pytest.mark.parametrize("value", [v.value for v in NormalizedStatus])
def test_every_normalized_value_is_explained(value: str) -> None:
    assert re.search(rf"^\| `{value}` \| \S", DOC, re.MULTILINE)


@pytest.mark.parametrize("type", [t.value for t in ConditionType])
def test_every_condition_type_has_a_row(type: str) -> None:
    assert re.search(rf"^\| `{type}` \| ", DOC, re.MULTILINE)


REASONS = sorted(
    value
    for module in (jobstatus, validation)
    for name, value in vars(module).items()
    if name.startswith("REASON_")
)


@pytest.mark.parametrize("reason", REASONS)
def test_every_reason_is_documented(reason: str) -> None:
    assert f"`{reason}`" in DOC
