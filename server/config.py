"""The gRPC server's settings: every one a command-line flag with an IRIS_<NAME> environment twin.

A flag wins over its environment variable, which wins over the default. Values are cast and
checked here, once, and a bad one stops the server with a message naming the setting and value.
"""

import argparse
import dataclasses
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from common.addresses import grpc_target
from common.cpus import usable_cpus

DEFAULT_PORT = 50052
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
# An upper bound of the bytes one row costs on the wire in any API, used to check that a batch of
# --max-batch-rows rows fits in --max-message-bytes: 32 in a KServe V2 request of FP64 (16 in
# iris.v1's and in FP32), 20 in a V2 reply (an INT64 label and 3 FP32 probabilities).
WIRE_BYTES_PER_ROW = 32
WIRE_BYTES_OVERHEAD = 1024


class SettingsError(ValueError):
    """A setting with a bad value; the message names the setting and the value."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything `python -m server` can be told; see `parse_settings` for the flags."""

    repository: pathlib.Path = pathlib.Path("artifacts")
    model_name: str = "iris"
    model_version: int | None = None  # None: the highest version directory
    host: str = "[::]"
    port: int = DEFAULT_PORT
    workers: int = 1
    # Threads running unary calls, and threads running streaming calls (see server/thread_pools.py).
    # Each client connection's health Watch holds a stream thread while it lasts (a proxy opens
    # --upstream-connections per process), so there are enough for many; idle ones are never made.
    threads: int = 4
    stream_threads: int = 64
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    max_batch_rows: int = 10_000
    max_message_bytes: int = 4 * 1024 * 1024
    # Calls held at once (running or queued for a thread, health checks included); more get
    # RESOURCE_EXHAUSTED at once, so the queue and the latency of accepted calls stay bounded.
    max_concurrent_requests: int = 256
    # On SIGTERM, health says NOT_SERVING at once, calls are still answered for drain_seconds (clients
    # that watch health, like the proxy, move to other replicas meanwhile), then new calls are
    # refused and those in flight get grace_seconds to finish.
    drain_seconds: float = 1.0
    grace_seconds: float = 5.0
    # Connections are closed (gracefully) after this, so clients re-resolve DNS and find new replicas.
    max_connection_age_seconds: float = 30.0
    metrics_port: int = 9090  # 0: no metrics
    # TLS on the gRPC port (PEM files): certificate chain and key, or neither for plaintext; with a
    # client CA, only clients with a certificate it signed get in (mutual TLS). See server/tls.py.
    tls_cert: pathlib.Path | None = None
    tls_key: pathlib.Path | None = None
    tls_client_ca: pathlib.Path | None = None
    log_level: str = "info"
    log_format: str = "json"

    @property
    def address(self) -> str:
        """host:port as gRPC wants it, with an IPv6 literal in brackets."""
        return grpc_target(self.host, self.port)


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def cast(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise ValueError(f"must be at least {minimum}{upper}")
        return value

    return cast


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise ValueError("must be a finite number of seconds, 0 or more")
    return value


def _workers(text: str) -> int:
    if text.lower() == "auto":
        return usable_cpus()
    return _integer(1)(text)


def _version(text: str) -> int | None:
    if text.lower() == "latest":
        return None
    return _integer(1)(text)


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def cast(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text.lower()

    return cast


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


def _readable_file(text: str) -> pathlib.Path:
    path = pathlib.Path(text)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError("must be a readable file")
    return path


# flag -> (Settings field, cast, help); a cast raises ValueError("must ...") for a bad value.
# The env twin is IRIS_ + the flag in upper snake case.
_FLAGS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "--repository": ("repository", pathlib.Path, "model repository directory (<name>/<version>/model.json)"),
    "--model-name": ("model_name", _non_empty, "model to serve, a directory in the repository"),
    "--model-version": ("model_version", _version, "version to serve, or 'latest' (highest number)"),
    "--host": ("host", _non_empty, "address to listen on ([::] and 0.0.0.0 mean every interface)"),
    "--port": ("port", _integer(0, 65535), "gRPC port; 0 picks a free one (one worker only)"),
    "--workers": (
        "workers",
        _workers,
        "server processes sharing the port (SO_REUSEPORT); auto: one per CPU this process may use",
    ),
    "--threads": ("threads", _integer(1), "threads running unary calls per process"),
    "--stream-threads": (
        "stream_threads",
        _integer(2),
        "threads running streaming calls per process; at most half may be open PredictStream calls",
    ),
    "--intra-op-threads": ("intra_op_threads", _integer(1), "onnxruntime threads inside one operator"),
    "--inter-op-threads": ("inter_op_threads", _integer(1), "onnxruntime threads across operators"),
    "--max-batch-rows": ("max_batch_rows", _integer(1), "most rows one call may send"),
    "--max-message-bytes": ("max_message_bytes", _integer(1024), "largest gRPC message received or sent"),
    "--max-concurrent-requests": (
        "max_concurrent_requests",
        _integer(1),
        "most calls held at once per process (running or queued); more get RESOURCE_EXHAUSTED",
    ),
    "--drain-seconds": (
        "drain_seconds",
        _seconds,
        "on SIGTERM: calls are still answered this long after health says NOT_SERVING",
    ),
    "--grace-seconds": ("grace_seconds", _seconds, "time in-flight calls get to finish on SIGTERM"),
    "--max-connection-age-seconds": (
        "max_connection_age_seconds",
        _seconds,
        "close each client connection after this (clients reconnect and re-resolve DNS); 0: never",
    ),
    "--metrics-port": ("metrics_port", _integer(0, 65535), "HTTP port of Prometheus /metrics; 0: no metrics"),
    "--tls-cert": (
        "tls_cert",
        _readable_file,
        "PEM certificate chain for TLS on the gRPC port (with --tls-key)",
    ),
    "--tls-key": ("tls_key", _readable_file, "PEM private key of --tls-cert"),
    "--tls-client-ca": (
        "tls_client_ca",
        _readable_file,
        "PEM CA certificates: require clients to present a certificate one of them signed (mutual TLS)",
    ),
    "--log-level": ("log_level", _choice(LOG_LEVELS), "least severe level logged"),
    "--log-format": ("log_format", _choice(LOG_FORMATS), "json lines or readable text"),
}


def env_name(flag: str) -> str:
    """The environment twin of a flag: --max-batch-rows -> IRIS_MAX_BATCH_ROWS."""
    return "IRIS_" + flag.removeprefix("--").replace("-", "_").upper()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="Serve the iris model over gRPC (iris.v1, health, reflection).",
    )
    defaults = Settings()
    for flag, (field, _, help_text) in _FLAGS.items():
        default = getattr(defaults, field)
        shown = "latest" if field == "model_version" else default
        parser.add_argument(flag, metavar="VALUE", help=f"{help_text} [{env_name(flag)}, default {shown}]")
    return parser


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Read the settings from flags (argv without the program name) and IRIS_* variables.

    Raises SettingsError naming the flag or variable and its bad value.
    """
    flags = vars(build_parser().parse_args(list(argv)))
    values: dict[str, Any] = {}
    for flag, (field, cast, _) in _FLAGS.items():
        text, source = flags[field], flag
        if text is None:
            text, source = environ.get(env_name(flag)), env_name(flag)
        if text is None:
            continue
        try:
            values[field] = cast(text)
        except ValueError as error:
            raise SettingsError(f"{source}={text!r}: {error}") from None
    settings = Settings(**values)
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    if settings.workers > 1 and settings.port == 0:
        raise SettingsError(f"--port=0 with --workers={settings.workers}: the workers need one fixed port")
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise SettingsError(
            f"--metrics-port={settings.metrics_port} is the gRPC --port: give metrics their own"
        )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        given, missing = (
            ("--tls-cert", "--tls-key") if settings.tls_key is None else ("--tls-key", "--tls-cert")
        )
        raise SettingsError(f"{given} without {missing}: TLS needs both the certificate and its key")
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        raise SettingsError(
            f"--tls-client-ca={str(settings.tls_client_ca)!r} without --tls-cert: mutual TLS needs TLS"
        )
    needed = settings.max_batch_rows * WIRE_BYTES_PER_ROW + WIRE_BYTES_OVERHEAD
    if needed > settings.max_message_bytes:
        raise SettingsError(
            f"--max-batch-rows={settings.max_batch_rows} needs messages of about {needed} bytes, "
            f"more than --max-message-bytes={settings.max_message_bytes}: raise one or lower the other"
        )
