"""Structured log lines: JSON objects with the `extra` fields as keys, or key=value text."""

import json
import logging

from common.logs import JsonFormatter, TextFormatter


def make_record() -> logging.LogRecord:
    record = logging.LogRecord("proxy.access", logging.INFO, __file__, 1, "POST %s %s", ("/", 200), None)
    record.request_id = "abc"
    record.latency_ms = 1.5
    return record


def test_json_line_has_message_and_extra_fields():
    """A JSON line is one object with level, logger, message and every extra field."""
    line = json.loads(JsonFormatter().format(make_record()))
    assert line["level"] == "info"  # lower case, like the server's
    assert line["logger"] == "proxy.access"
    assert line["message"] == "POST / 200"
    assert (line["request_id"], line["latency_ms"]) == ("abc", 1.5)
    assert line["ts"].endswith("Z")


def test_text_line_has_extra_fields_as_key_value():
    """A text line ends with key=value pairs of the extra fields."""
    line = TextFormatter().format(make_record())
    assert line.endswith("proxy.access: POST / 200  request_id=abc latency_ms=1.5")
