"""Who is told what the client and its reflectors do: a Protocol, so that the
client stays free of any metrics library (taskmill.metrics implements it)."""

from typing import Protocol


class Observer(Protocol):
    """Told what the client and its reflectors do (taskmill.metrics.ClientMetrics)."""

    def request(self, method: str, path: str, code: int, *, watch: bool = False) -> None:
        """An answer (or 0: none) to a request, or to a watch being opened."""

    def watch_restarted(self, path: str) -> None:
        """A watch ended in an error or went silent, and is opened again."""

    def relisted(self, path: str) -> None:
        """A collection is listed in full."""
