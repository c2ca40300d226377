"""A clock that moves only when a test moves it."""

from datetime import UTC, datetime, timedelta


class ManualClock:
    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self._start = start
        self.now = 1000.0

    def mono(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self._start + timedelta(seconds=self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds
