"""Peer: placeholder until written."""
from typing import Any

from bench.context import Bench


def unavailable() -> str | None:
    return "not written yet"


async def peer(bench: Bench, items: int) -> dict[str, Any]:
    raise NotImplementedError
