"""Every value of charts/taskmill is commented in values.yaml and listed in the README."""

import re
from collections.abc import Iterator
from typing import Any

import yaml

from tests.unit.chart.helm import CHART

VALUES = CHART / "values.yaml"
README = CHART / "README.md"
# Maps passed through to Kubernetes as a whole: documented as one value.
OPAQUE = frozenset(
    {"resources", "livenessProbe", "readinessProbe", "podSecurityContext", "securityContext"}
)


def leaf_paths(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in OPAQUE:
            yield from leaf_paths(value, f"{path}.")
        else:
            yield path


def commented_keys(text: str) -> set[str]:
    """Dotted paths of the keys that a comment line directly precedes."""
    commented: set[str] = set()
    stack: list[tuple[int, str]] = []
    previous_is_comment = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            previous_is_comment = True
            continue
        match = re.match(r"^(\s*)([A-Za-z][\w]*):", line)
        if match:
            indent = len(match.group(1))
            stack = [(i, k) for i, k in stack if i < indent]
            stack.append((indent, match.group(2)))
            if previous_is_comment:
                commented.add(".".join(k for _, k in stack))
        previous_is_comment = False
    return commented


def test_paths_helper_stops_at_opaque_maps() -> None:
    values = {"a": {"b": 1, "resources": {"limits": {}}}, "c": []}

    assert list(leaf_paths(values)) == ["a.b", "a.resources", "c"]


def test_every_value_has_a_comment_in_values_yaml() -> None:
    commented = commented_keys(VALUES.read_text())

    for path in leaf_paths(yaml.safe_load(VALUES.read_text())):
        assert path in commented, f"{path} has no comment in values.yaml"


def test_every_value_is_in_the_readme_table() -> None:
    readme = README.read_text()

    for path in leaf_paths(yaml.safe_load(VALUES.read_text())):
        assert f"| `{path}` |" in readme, f"{path} is not documented in charts/taskmill/README.md"
