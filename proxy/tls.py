"""TLS from the proxy to the server(s): plaintext unless --upstream-tls-ca is given.

With a CA, the proxy verifies each server's certificate against it, for the host name of the
--upstream target (dns:///server:50052 -> "server"). With --upstream-tls-cert and
--upstream-tls-key it also presents a client certificate, for servers started with
--tls-client-ca (mutual TLS). The files are read once, when the channel opens.
"""

import grpc

from common import tls
from proxy.config import Settings


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """The upstream channel's TLS credentials, or None for plaintext."""
    return tls.channel_credentials(
        settings.upstream_tls_ca, settings.upstream_tls_cert, settings.upstream_tls_key
    )
