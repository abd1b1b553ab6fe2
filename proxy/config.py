"""The proxy's settings: every one a command-line flag with an IRIS_<FLAG> environment twin.

A flag wins over its environment variable, which wins over the default (see common/settings.py).
Values are checked once, here; a bad one raises SettingsError naming the setting and the value.
"""

import dataclasses
import pathlib
from collections.abc import Mapping, Sequence

from common.settings import (
    LOG_FORMAT_VALUES,
    LOG_LEVEL_VALUES,
    SWITCH_VALUES,
    WORKERS_VALUES,
    Setting,
    SettingsError,
    SettingsReader,
    integer_range,
    log_format,
    log_level,
    port,
    positive_integer,
    readable_file,
    seconds,
    seconds_or_zero,
    switch,
    workers,
)

# A row that waited this long for others would wait longer than any call it saves.
MAX_COALESCE_WAIT_US = 1_000_000


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
    log_level: str = "info"
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


def _no_space(text: str) -> str:
    if any(character.isspace() for character in text):
        raise ValueError(text)
    return text


SETTINGS = (
    Setting("host", _no_space, "an address such as 0.0.0.0 or 127.0.0.1", "address to listen on"),
    Setting("port", port, "an integer from 1 to 65535", "HTTP port to listen on"),
    Setting(
        "upstream",
        _no_space,
        "a gRPC target such as localhost:50052 or dns:///server:50052",
        "gRPC target of the prediction server(s); dns:///host:port balances over every address",
    ),
    Setting(
        "upstream_connections",
        positive_integer,
        "a positive integer (at least the servers' --workers)",
        "gRPC connections to each server address, so every server worker sharing a port takes calls",
    ),
    Setting(
        "upstream_reconnect_seconds",
        seconds_or_zero,
        "0 (never) or a positive number of seconds",
        "replace each upstream connection by a new one this often, finding servers added since",
    ),
    Setting(
        "deadline_seconds",
        seconds,
        "a positive number of seconds",
        "gRPC deadline of each upstream call, in seconds",
    ),
    Setting(
        "upstream_tls_ca",
        readable_file,
        "a readable PEM file",
        "CA certificates to verify the servers with: turns TLS on",
    ),
    Setting(
        "upstream_tls_cert",
        readable_file,
        "a readable PEM file",
        "client certificate chain for servers that require one",
    ),
    Setting("upstream_tls_key", readable_file, "a readable PEM file", "private key of --upstream-tls-cert"),
    Setting(
        "max_body_bytes",
        positive_integer,
        "a positive integer",
        "largest request body accepted, in bytes (larger ones get 413)",
    ),
    Setting(
        "max_in_flight",
        positive_integer,
        "a positive integer",
        "most POST requests handled at once (more get 429 at once)",
    ),
    Setting(
        "request_timeout_seconds",
        seconds,
        "a positive number of seconds, more than --deadline-seconds",
        "time to handle a request whose body is still arriving, body included (else 408)",
    ),
    Setting(
        "keepalive_seconds",
        seconds,
        "a positive number of seconds",
        "a connection without a complete request for this long (idle, or trickling) is closed",
    ),
    Setting("workers", workers, WORKERS_VALUES, "proxy processes sharing the port (SO_REUSEPORT)"),
    Setting(
        "drain_seconds",
        seconds_or_zero,
        "0 or a positive number of seconds",
        "on SIGTERM, /readyz answers 503 this long before the proxy stops taking requests",
    ),
    Setting("log_level", log_level, LOG_LEVEL_VALUES, "least severe level logged"),
    Setting("log_format", log_format, LOG_FORMAT_VALUES, "json lines or readable text"),
    Setting("access_log", switch, SWITCH_VALUES, "log one line per request"),
    Setting("metrics", switch, SWITCH_VALUES, "count requests and serve them at GET /metrics"),
    Setting(
        "coalesce_max_rows",
        positive_integer,
        "a positive integer (1: no coalescing), at most the server's --max-batch-rows",
        "most POST / rows gathered into one PredictBatch call while calls are in flight",
    ),
    Setting(
        "coalesce_max_wait_us",
        integer_range(0, MAX_COALESCE_WAIT_US),
        f"a whole number of microseconds from 0 to {MAX_COALESCE_WAIT_US}",
        "longest a POST / row waits to be gathered with others, in microseconds",
    ),
    Setting("row_stream", switch, SWITCH_VALUES, "send a lone POST / row on a long-lived PredictStream"),
)


def _check_together(settings: Settings) -> None:
    if (settings.upstream_tls_cert is None) != (settings.upstream_tls_key is None):
        given, missing = ("cert", "key") if settings.upstream_tls_key is None else ("key", "cert")
        raise SettingsError(
            f"--upstream-tls-{given} without --upstream-tls-{missing} is not valid: a client certificate "
            "goes with its key"
        )
    if settings.upstream_tls_cert is not None and settings.upstream_tls_ca is None:
        raise SettingsError(
            "--upstream-tls-cert without --upstream-tls-ca is not valid: a client certificate is only sent "
            "over TLS, which needs the CA that verifies the servers"
        )
    if settings.request_timeout_seconds <= settings.deadline_seconds:
        raise SettingsError(
            f"--request-timeout-seconds={settings.request_timeout_seconds:g} with "
            f"--deadline-seconds={settings.deadline_seconds:g} is not valid: the request timeout must be "
            "longer, so a slow server answers 504, not 408"
        )


READER = SettingsReader(
    Settings,
    SETTINGS,
    prog="python -m proxy",
    description="REST proxy in front of the iris gRPC prediction server.",
    check=_check_together,
)


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Read the settings from command-line arguments (without the program name) and environment.

    Raises SettingsError for a bad value; argparse exits with status 2 on an unknown flag.
    """
    return READER.read(argv, environ)
