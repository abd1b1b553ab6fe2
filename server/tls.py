"""TLS on the gRPC port: plaintext unless --tls-cert and --tls-key are given; mutual TLS with
--tls-client-ca, which refuses every client without a certificate signed by one of its CAs.

The files are read once, at start-up (a restart picks up renewed certificates). A file that is
not valid PEM stops the server at start-up, when gRPC binds the port.
"""

import grpc

from server.config import Settings


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The gRPC port's TLS credentials, or None for plaintext."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    client_ca = settings.tls_client_ca.read_bytes() if settings.tls_client_ca is not None else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def add_port(server: grpc.Server, settings: Settings) -> int:
    """Bind settings.address, with TLS if configured; the port bound (RuntimeError if it cannot)."""
    credentials = server_credentials(settings)
    if credentials is None:
        return server.add_insecure_port(settings.address)
    return server.add_secure_port(settings.address, credentials)


def describe(settings: Settings) -> str:
    """What the gRPC port speaks, for the start-up log line: plaintext, tls or mutual-tls."""
    if settings.tls_cert is None:
        return "plaintext"
    return "mutual-tls" if settings.tls_client_ca is not None else "tls"
