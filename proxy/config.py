"""The proxy's settings: every one a command-line flag with an IRIS_<NAME> environment twin.

A flag wins over its environment variable, which wins over the default. Values are checked
once, here; a bad one raises ConfigError naming the setting and the value.
"""

import argparse
import dataclasses
import math
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from common.cpus import usable_cpus

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
# A row that waited this long for others would wait longer than any call it saves.
MAX_COALESCE_WAIT_US = 1_000_000


class ConfigError(ValueError):
    """A setting has a value the proxy cannot use."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 5000
    # A gRPC target: host:port, or dns:///host:port to balance over every address it resolves to.
    upstream: str = "localhost:50052"
    # gRPC connections to each server address (see proxy/upstream.py): servers whose --workers share
    # a port (SO_REUSEPORT) are reached one worker per connection. Each connection's health watch
    # holds one of the server's --stream-threads and --max-concurrent-requests while it lasts.
    upstream_connections: int = 4
    # Each of those connections is replaced by a new one this often (0: never), which finds server
    # replicas added since; see proxy/upstream.py.
    upstream_reconnect_seconds: float = 0.0
    # gRPC deadline of the upstream call made for one HTTP request, retries included.
    deadline_seconds: float = 5.0
    # TLS to the server(s) (PEM files), see proxy/tls.py: plaintext unless a CA to verify them is
    # given; a client certificate and key too for servers that require one (mutual TLS).
    upstream_tls_ca: pathlib.Path | None = None
    upstream_tls_cert: pathlib.Path | None = None
    upstream_tls_key: pathlib.Path | None = None
    # Largest request body accepted (aiohttp's client_max_size); a larger one gets 413.
    max_body_bytes: int = 1024 * 1024
    # Limits that keep the proxy serving everyone (see proxy/limits.py): POST requests handled at
    # once (more get 429), time to handle a request whose body is still arriving (else 408), and time a
    # connection may stay open without a complete request head (idle or trickling; longer than
    # common load balancers' 60 s, so they close idle connections first).
    max_in_flight: int = 128
    request_timeout_seconds: float = 10.0
    keepalive_seconds: float = 75.0
    # Processes sharing the port (SO_REUSEPORT, see common/workers.py); auto: one per usable CPU.
    workers: int = 1
    # On SIGTERM, GET /readyz answers 503 this long before the proxy stops taking requests, so a load
    # balancer checking it takes this replica out of rotation first; in-flight requests then finish.
    drain_seconds: float = 0.0
    log_level: str = "INFO"
    log_format: str = "json"
    # One log line per request (proxy.access), and Prometheus metrics at GET /metrics.
    access_log: bool = True
    metrics: bool = True
    # POST / requests arriving while a gRPC call is in flight are gathered into one PredictBatch call
    # of at most this many rows (1: no coalescing), waiting at most this long (see proxy/coalescer.py).
    coalesce_max_rows: int = 64
    coalesce_max_wait_us: int = 2000
    # A POST / row sent alone goes as a message of one long-lived PredictStream, falling back to a
    # unary Predict whenever the stream gives no answer (see proxy/row_stream.py).
    row_stream: bool = True


class _Spec(NamedTuple):
    parse: Callable[[str], Any]  # raises ValueError for a bad value
    expected: str  # what a good value looks like, for the error message
    help: str


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(text)
    return port


def _positive_seconds(text: str) -> float:
    seconds = float(text)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(text)
    return seconds


def _positive_int(text: str) -> int:
    number = int(text)
    if number <= 0:
        raise ValueError(text)
    return number


def _workers(text: str) -> int:
    return usable_cpus() if text.lower() == "auto" else _positive_int(text)


def _seconds_or_zero(text: str) -> float:
    return 0.0 if float(text) == 0 else _positive_seconds(text)


def _wait_microseconds(text: str) -> int:
    number = int(text)
    if not 0 <= number <= MAX_COALESCE_WAIT_US:
        raise ValueError(text)
    return number


def _readable_file(text: str) -> pathlib.Path:
    path = pathlib.Path(text)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError(text)
    return path


def _no_space(text: str) -> str:
    if not text or any(c.isspace() for c in text):
        raise ValueError(text)
    return text


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_SWITCH_VALUES = "on or off (or 1/0, true/false, yes/no)"


def _switch(text: str) -> bool:
    if text.lower() not in _TRUE + _FALSE:
        raise ValueError(text)
    return text.lower() in _TRUE


def _one_of(choices: Sequence[str], normalise: Callable[[str], str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if normalise(text) not in choices:
            raise ValueError(text)
        return normalise(text)

    return parse


_SPECS: dict[str, _Spec] = {
    "host": _Spec(_no_space, "an address such as 0.0.0.0 or 127.0.0.1", "address to listen on"),
    "port": _Spec(_port, "an integer from 1 to 65535", "HTTP port to listen on"),
    "upstream": _Spec(
        _no_space,
        "a gRPC target such as localhost:50052 or dns:///server:50052",
        "gRPC target of the prediction server(s); dns:///host:port balances over every address",
    ),
    "upstream_connections": _Spec(
        _positive_int,
        "a positive integer (at least the servers' --workers)",
        "gRPC connections to each server address, so every server worker sharing a port takes calls",
    ),
    "upstream_reconnect_seconds": _Spec(
        _seconds_or_zero,
        "0 (never) or a positive number of seconds",
        "replace each upstream connection by a new one this often, finding servers added since",
    ),
    "deadline_seconds": _Spec(
        _positive_seconds, "a positive number of seconds", "gRPC deadline of each upstream call, in seconds"
    ),
    "upstream_tls_ca": _Spec(
        _readable_file, "a readable PEM file", "CA certificates to verify the servers with: turns TLS on"
    ),
    "upstream_tls_cert": _Spec(
        _readable_file, "a readable PEM file", "client certificate chain for servers that require one"
    ),
    "upstream_tls_key": _Spec(_readable_file, "a readable PEM file", "private key of --upstream-tls-cert"),
    "max_body_bytes": _Spec(
        _positive_int, "a positive integer", "largest request body accepted, in bytes (larger ones get 413)"
    ),
    "max_in_flight": _Spec(
        _positive_int, "a positive integer", "most POST requests handled at once (more get 429 at once)"
    ),
    "request_timeout_seconds": _Spec(
        _positive_seconds,
        "a positive number of seconds, more than --deadline-seconds",
        "time to handle a request whose body is still arriving, body included (else 408)",
    ),
    "keepalive_seconds": _Spec(
        _positive_seconds,
        "a positive number of seconds",
        "a connection without a complete request for this long (idle, or trickling) is closed",
    ),
    "workers": _Spec(
        _workers,
        "a positive integer, or auto (one per CPU this process may use)",
        "proxy processes sharing the port (SO_REUSEPORT)",
    ),
    "drain_seconds": _Spec(
        _seconds_or_zero,
        "0 or a positive number of seconds",
        "on SIGTERM, /readyz answers 503 this long before the proxy stops taking requests",
    ),
    "log_level": _Spec(_one_of(LOG_LEVELS, str.upper), "one of " + ", ".join(LOG_LEVELS), "log level"),
    "log_format": _Spec(
        _one_of(LOG_FORMATS, str.lower), "one of " + ", ".join(LOG_FORMATS), "log line format"
    ),
    "access_log": _Spec(_switch, _SWITCH_VALUES, "log one line per request: on or off"),
    "metrics": _Spec(_switch, _SWITCH_VALUES, "count requests and serve them at GET /metrics: on or off"),
    "coalesce_max_rows": _Spec(
        _positive_int,
        "a positive integer (1: no coalescing), at most the server's --max-batch-rows",
        "most POST / rows gathered into one PredictBatch call while calls are in flight",
    ),
    "coalesce_max_wait_us": _Spec(
        _wait_microseconds,
        f"a whole number of microseconds from 0 to {MAX_COALESCE_WAIT_US}",
        "longest a POST / row waits to be gathered with others, in microseconds",
    ),
    "row_stream": _Spec(
        _switch, _SWITCH_VALUES, "send a lone POST / row on a long-lived PredictStream: on or off"
    ),
}


def _shown(default: object) -> str:
    """A default as a user would type it: on and off for switches."""
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    return "IRIS_" + name.upper()


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Read the settings from command-line arguments (without the program name) and environment.

    Raises ConfigError for a bad value; argparse exits with status 2 on an unknown flag.
    """
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m proxy", description="REST proxy in front of the iris gRPC prediction server."
    )
    for name, spec in _SPECS.items():
        parser.add_argument(
            flag_name(name),
            dest=name,
            default=None,
            metavar="VALUE",
            help=f"{spec.help} (env {env_name(name)}, default {_shown(getattr(defaults, name))})",
        )
    args = parser.parse_args(list(argv))

    values = {}
    for name, spec in _SPECS.items():
        if getattr(args, name) is not None:
            source, text = flag_name(name), getattr(args, name)
        elif env_name(name) in environ:
            source, text = env_name(name), environ[env_name(name)]
        else:
            continue
        try:
            values[name] = spec.parse(text.strip())
        except ValueError:
            raise ConfigError(f"{source}={text!r} is not valid: expected {spec.expected}") from None
    settings = dataclasses.replace(defaults, **values)
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    if (settings.upstream_tls_cert is None) != (settings.upstream_tls_key is None):
        raise ConfigError(
            "--upstream-tls-cert and --upstream-tls-key are not valid: expected both (a client certificate "
            "and its key) or neither"
        )
    if settings.upstream_tls_cert is not None and settings.upstream_tls_ca is None:
        raise ConfigError(
            "--upstream-tls-cert is not valid without --upstream-tls-ca: expected the CA that verifies "
            "the servers too (a client certificate is only sent over TLS)"
        )
    if settings.request_timeout_seconds <= settings.deadline_seconds:
        raise ConfigError(
            f"--request-timeout-seconds={settings.request_timeout_seconds:g} is not valid: expected more "
            f"than --deadline-seconds={settings.deadline_seconds:g}, so a slow server answers 504, not 408"
        )
