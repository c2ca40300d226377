"""Lateness for any kind, from two annotations a user can put on any workload.

`taskmill.io/start-within` and `taskmill.io/expected-duration` hold a duration
(`90s`, `15m`, `1h30m`, or plain seconds). The facts say whether that long has
passed since the object's creation; each kind's rules decide what "started" and
"finished" mean for it.
"""

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

START_WITHIN = "taskmill.io/start-within"
EXPECTED_DURATION = "taskmill.io/expected-duration"

_PART = re.compile(r"(\d+)(h|m|s)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """`1h30m`, `90s` or `120`; ValueError naming the text otherwise."""
    text = text.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m or 1h30m")
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))


def lateness_facts(obj: Mapping[str, Any], now: datetime, problems: list[str]) -> dict[str, Any]:
    """`startWithinExceeded` and `expectedDurationExceeded`; bad annotations go to problems."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    created = _timestamp(metadata.get("creationTimestamp"))
    facts: dict[str, Any] = {}
    for fact, annotation in (
        ("startWithinExceeded", START_WITHIN),
        ("expectedDurationExceeded", EXPECTED_DURATION),
    ):
        facts[fact] = False
        if annotation not in annotations or created is None:
            continue
        try:
            facts[fact] = now >= created + parse_duration(str(annotations[annotation]))
        except ValueError as e:
            problems.append(f"annotation {annotation}: {e}")
    return facts


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
