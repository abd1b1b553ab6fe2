"""host:port as gRPC wants it: an IPv6 literal goes in brackets ("[::1]:50052")."""


def grpc_target(host: str, port: int) -> str:
    """`host:port`, with an IPv6 literal bracketed unless it already is."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def unbracketed(host: str) -> str:
    """The host as sockets want it: the gRPC form of an IPv6 literal without its brackets."""
    return host.strip("[]")
