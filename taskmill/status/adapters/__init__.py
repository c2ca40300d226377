"""Adapters: facts about an object that its own fields do not hold.

Every object gets the lateness facts; kinds that need related objects or computation
(a CronJob's schedule and Jobs, a BatchJob's deadlines) get their own. Adding a kind
that needs more than CEL over the object is one function here (docs/status.md).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskmill.status.adapters.batchjob import from_object
from taskmill.status.adapters.cronjob import cronjob_facts
from taskmill.status.adapters.lateness import lateness_facts
from taskmill.status.inventory import Inventory
from taskmill.status.policy import KindKey, kind_key

Obj = Mapping[str, Any]
Adapter = Callable[[Obj, Inventory, datetime, list[str]], dict[str, Any]]


@dataclass(frozen=True)
class Gathered:
    facts: dict[str, Any]
    problems: tuple[str, ...] = ()  # what the adapter could not read (a bad annotation, ...)


def _batchjob_facts(
    obj: Obj, inventory: Inventory, now: datetime, problems: list[str]
) -> dict[str, Any]:
    return from_object(obj, now).as_cel()


ADAPTERS: dict[KindKey, Adapter] = {
    ("taskmill.io", "BatchJob"): _batchjob_facts,
    ("batch", "CronJob"): cronjob_facts,
}


def gather(obj: Obj, inventory: Inventory, now: datetime) -> Gathered:
    """Facts for one object: lateness for every kind, plus its kind's adapter."""
    problems: list[str] = []
    facts = lateness_facts(obj, now, problems)
    adapter = ADAPTERS.get(kind_key(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))))
    if adapter is not None:
        facts.update(adapter(obj, inventory, now, problems))
    return Gathered(facts, tuple(problems))
