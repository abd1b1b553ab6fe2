"""TLS from the proxy to the server(s): plaintext unless --upstream-tls-ca is given.

With a CA, the proxy verifies each server's certificate against it, for the host name of the
--upstream target (dns:///server:50052 -> "server"). With --upstream-tls-cert and
--upstream-tls-key it also presents a client certificate, for servers started with
--tls-client-ca (mutual TLS). The files are read once, when the channel opens.
"""

import grpc

from proxy.config import Settings


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """The upstream channel's TLS credentials, or None for plaintext."""
    if settings.upstream_tls_ca is None:
        return None
    mutual = settings.upstream_tls_cert is not None and settings.upstream_tls_key is not None
    return grpc.ssl_channel_credentials(
        root_certificates=settings.upstream_tls_ca.read_bytes(),
        private_key=settings.upstream_tls_key.read_bytes() if mutual else None,
        certificate_chain=settings.upstream_tls_cert.read_bytes() if mutual else None,
    )
