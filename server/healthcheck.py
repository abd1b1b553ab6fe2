"""`python -m server.healthcheck`: exit 0 if the local server's health service says SERVING, else 1.

For container HEALTHCHECKs (the slim image has no curl or grpc_health_probe). It reads the
server's own settings from the environment: the port defaults to IRIS_PORT, and with IRIS_TLS_CERT
set it speaks TLS, trusting that certificate file (a self-signed certificate, or a chain that
ends in its CA; else pass --tls-ca) for the name --tls-server-name (default localhost, which the
certificate must name). With IRIS_TLS_CLIENT_CA set it presents the server's own certificate and
key as its client certificate, so that certificate must also be good for client authentication
by that CA.
"""

import argparse
import os
import pathlib
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.addresses import grpc_target
from common.settings import SettingsError
from common.tls import channel_credentials
from server.config import DEFAULT_PORT, Settings, parse_settings


def open_channel(target: str, settings: Settings, tls_ca: str | None, server_name: str) -> grpc.Channel:
    """A channel to the local server, speaking TLS (and presenting a client certificate) if it does."""
    if settings.tls_cert is None or settings.tls_key is None:
        return grpc.insecure_channel(target)
    mutual = settings.tls_client_ca is not None
    credentials = channel_credentials(
        pathlib.Path(tls_ca) if tls_ca else settings.tls_cert,
        settings.tls_cert if mutual else None,
        settings.tls_key if mutual else None,
    )
    return grpc.secure_channel(target, credentials, options=[("grpc.ssl_target_name_override", server_name)])


def build_parser(port: int) -> argparse.ArgumentParser:
    """The health check's flags; --port defaults to `port`, the server's own (IRIS_PORT)."""
    parser = argparse.ArgumentParser(prog="python -m server.healthcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=port, help=f"server port [IRIS_PORT, default {DEFAULT_PORT}]"
    )
    parser.add_argument("--service", default="", help="service to ask about (default '': the whole server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    parser.add_argument("--tls-ca", help="PEM CA to verify the server with (default: IRIS_TLS_CERT itself)")
    parser.add_argument(
        "--tls-server-name",
        default="localhost",
        help="name the server certificate must have (default localhost)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_settings([], os.environ)  # the server's own settings: IRIS_PORT, IRIS_TLS_*
    except SettingsError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    parser = build_parser(settings.port)
    args = parser.parse_args(argv)
    with open_channel(
        grpc_target(args.host, args.port), settings, args.tls_ca, args.tls_server_name
    ) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as error:
            print(f"unhealthy: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(status)
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
