"""docs/status.md prints the built-in Job and CronJob rules as they are, in order."""

import re
from pathlib import Path

import pytest

from taskmill.status import builtin_policy

DOC = (Path(__file__).resolve().parents[3] / "docs" / "status.md").read_text()


def _table_after(heading: str) -> list[tuple[str, str]]:
    section = DOC[DOC.index(heading) :]
    table = section[: section.index("\n\n", section.index("| Value |"))]
    return re.findall(r"^\| `(\w+)` \| `([\w-]+)` \|", table, re.MULTILINE)


@pytest.mark.parametrize(
    ("heading", "key"),
    [("**batch/v1 Job**", ("batch", "Job")), ("**batch/v1 CronJob**", ("batch", "CronJob"))],
)
def test_the_documented_table_is_the_builtin_rule_list(heading: str, key: tuple[str, str]) -> None:
    rules = builtin_policy().rules[key]
    assert _table_after(heading) == [(str(r.value), r.name) for r in rules]
