"""TLS for the product's gRPC clients (the proxy, the client, the container health check): PEM files
read once, when the channel opens. No CA means plaintext; a client certificate and its key are sent
too when given, for servers that require one (mutual TLS)."""

import pathlib

import grpc


def channel_credentials(
    ca: pathlib.Path | None, cert: pathlib.Path | None = None, key: pathlib.Path | None = None
) -> grpc.ChannelCredentials | None:
    """TLS credentials trusting `ca`, presenting `cert` and `key` if both are given; None without a CA."""
    if ca is None:
        return None
    mutual = cert is not None and key is not None
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if mutual else None,
        certificate_chain=cert.read_bytes() if mutual else None,
    )
