"""The gRPC server's settings: every one a command-line flag with an IRIS_<FLAG> environment twin.

A flag wins over its environment variable, which wins over the default (see common/settings.py).
Values are checked here, once, and a bad one stops the server with a message naming the setting
and the value.
"""

import argparse
import dataclasses
import pathlib
from collections.abc import Mapping, Sequence

from common.addresses import grpc_target
from common.names import IRIS_MODEL_NAME, MODEL_NAME_PATTERN
from common.settings import (
    LOG_FORMAT_VALUES,
    LOG_LEVEL_VALUES,
    WORKERS_VALUES,
    Setting,
    SettingsError,
    SettingsReader,
    integer_range,
    log_format,
    log_level,
    positive_integer,
    readable_file,
    seconds_or_zero,
    workers,
)
from server.version_policy import DEFAULT_POLICY, POLICY_VALUES, VersionPolicy, parse_policy

DEFAULT_PORT = 50052
# An upper bound of the bytes one row costs on the wire in any API, used to check that a batch of
# --max-batch-rows rows fits in --max-message-bytes: 32 in a KServe V2 request of FP64 (16 in
# iris.v1's and in FP32), 20 in a V2 reply (an INT64 label and 3 FP32 probabilities).
WIRE_BYTES_PER_ROW = 32
WIRE_BYTES_OVERHEAD = 1024


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything `python -m server` can be told; SETTINGS below says how."""

    repository: pathlib.Path = pathlib.Path("artifacts")
    models: tuple[str, ...] = ()  # empty: every model in the repository
    version_policy: VersionPolicy = DEFAULT_POLICY  # unless a model's config.json says otherwise
    poll_seconds: float = 2.0  # 0: the repository is read once, at start-up
    model_name: str = IRIS_MODEL_NAME  # the model iris.v1 answers with
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


def _model_name(text: str) -> str:
    if not MODEL_NAME_PATTERN.fullmatch(text):
        raise ValueError(text)
    return text


def _model_names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",")))
    return tuple(_model_name(name) for name in names)


MODEL_NAME_VALUES = "a model name: 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"


SETTINGS = (
    Setting(
        "repository",
        pathlib.Path,
        "a directory",
        "model repository directory (<name>/<version>/model.json)",
    ),
    Setting(
        "models",
        _model_names,
        "model names separated by commas (" + MODEL_NAME_VALUES.removeprefix("a model name: ") + ")",
        "models to serve, by name; by default every model in the repository",
        shown_default="all",
    ),
    Setting(
        "version_policy",
        parse_policy,
        POLICY_VALUES,
        "versions of each model to serve, unless its config.json names a version_policy",
    ),
    Setting(
        "poll_seconds",
        seconds_or_zero,
        "0 or a positive number of seconds",
        "look for new, changed and removed versions this often; 0: only at start-up",
    ),
    Setting(
        "model_name",
        _model_name,
        MODEL_NAME_VALUES,
        "the model iris.v1 answers with (its latest version, unless a request names one)",
    ),
    Setting(
        "host",
        str,
        "an address such as [::], 0.0.0.0 or 127.0.0.1",
        "address to listen on ([::] and 0.0.0.0 mean every interface)",
    ),
    Setting(
        "port",
        integer_range(0, 65535),
        "an integer from 0 (a free port) to 65535",
        "gRPC port; 0 picks a free one (one worker only)",
    ),
    Setting(
        "workers",
        workers,
        WORKERS_VALUES,
        "server processes sharing the port (SO_REUSEPORT); auto: one per CPU this process may use",
    ),
    Setting("threads", positive_integer, "a positive integer", "threads running unary calls per process"),
    Setting(
        "stream_threads",
        integer_range(2),
        "an integer, 2 or more",
        "threads running streaming calls per process; at most half may be open PredictStream calls",
    ),
    Setting(
        "intra_op_threads",
        positive_integer,
        "a positive integer",
        "onnxruntime threads inside one operator",
    ),
    Setting(
        "inter_op_threads",
        positive_integer,
        "a positive integer",
        "onnxruntime threads across operators",
    ),
    Setting("max_batch_rows", positive_integer, "a positive integer", "most rows one call may send"),
    Setting(
        "max_message_bytes",
        integer_range(1024),
        "an integer, 1024 or more",
        "largest gRPC message received or sent",
    ),
    Setting(
        "max_concurrent_requests",
        positive_integer,
        "a positive integer",
        "most calls held at once per process (running or queued); more get RESOURCE_EXHAUSTED",
    ),
    Setting(
        "drain_seconds",
        seconds_or_zero,
        "0 or a positive number of seconds",
        "on SIGTERM: calls are still answered this long after health says NOT_SERVING",
    ),
    Setting(
        "grace_seconds",
        seconds_or_zero,
        "0 or a positive number of seconds",
        "time in-flight calls get to finish on SIGTERM",
    ),
    Setting(
        "max_connection_age_seconds",
        seconds_or_zero,
        "0 (never) or a positive number of seconds",
        "close each client connection after this (clients reconnect and re-resolve DNS); 0: never",
    ),
    Setting(
        "metrics_port",
        integer_range(0, 65535),
        "an integer from 0 (no metrics) to 65535",
        "HTTP port of Prometheus /metrics; 0: no metrics",
    ),
    Setting(
        "tls_cert",
        readable_file,
        "a readable PEM file",
        "PEM certificate chain for TLS on the gRPC port (with --tls-key)",
    ),
    Setting("tls_key", readable_file, "a readable PEM file", "PEM private key of --tls-cert"),
    Setting(
        "tls_client_ca",
        readable_file,
        "a readable PEM file",
        "PEM CA certificates: require clients to present a certificate one of them signed (mutual TLS)",
    ),
    Setting("log_level", log_level, LOG_LEVEL_VALUES, "least severe level logged"),
    Setting("log_format", log_format, LOG_FORMAT_VALUES, "json lines or readable text"),
)


def _check_together(settings: Settings) -> None:
    if settings.workers > 1 and settings.port == 0:
        raise SettingsError(
            f"--port=0 with --workers={settings.workers} is not valid: the workers need one fixed port"
        )
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise SettingsError(
            f"--metrics-port={settings.metrics_port} with --port={settings.port} is not valid: "
            "metrics need a port of their own"
        )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        given, missing = (
            ("--tls-cert", "--tls-key") if settings.tls_key is None else ("--tls-key", "--tls-cert")
        )
        raise SettingsError(
            f"{given} without {missing} is not valid: TLS needs both the certificate and its key"
        )
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        raise SettingsError(
            f"--tls-client-ca={str(settings.tls_client_ca)!r} without --tls-cert is not valid: "
            "mutual TLS needs TLS"
        )
    needed = settings.max_batch_rows * WIRE_BYTES_PER_ROW + WIRE_BYTES_OVERHEAD
    if needed > settings.max_message_bytes:
        raise SettingsError(
            f"--max-batch-rows={settings.max_batch_rows} with "
            f"--max-message-bytes={settings.max_message_bytes} is not valid: that many rows need "
            f"messages of about {needed} bytes; raise one or lower the other"
        )


READER = SettingsReader(
    Settings,
    SETTINGS,
    prog="python -m server",
    description="Serve a model repository over gRPC (iris.v1, KServe V2, health, reflection).",
    check=_check_together,
)


def build_parser() -> argparse.ArgumentParser:
    """The server's argparse parser (what --help prints)."""
    return READER.parser()


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Read the settings from flags (argv without the program name) and IRIS_* variables.

    Raises SettingsError naming the flag or variable and its bad value.
    """
    return READER.read(argv, environ)
