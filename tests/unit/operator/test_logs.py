"""Structured logs: one JSON object per line with the record's extra fields."""

import json
import logging

from taskmill.operator.logs import JsonFormatter, TextFormatter


def record() -> logging.LogRecord:
    r = logging.makeLogRecord({"name": "taskmill.x", "levelname": "WARNING", "msg": "lease %s"})
    r.args = ("expired",)
    r.__dict__.update({"task": "job-3", "epoch": 2})
    return r


def test_json_lines_carry_extras() -> None:
    entry = json.loads(JsonFormatter().format(record()))
    assert entry["msg"] == "lease expired"
    assert (entry["level"], entry["logger"]) == ("warning", "taskmill.x")
    assert (entry["task"], entry["epoch"]) == ("job-3", 2)


def test_text_lines_append_extras() -> None:
    assert TextFormatter().format(record()).endswith("lease expired task=job-3 epoch=2")
