"""common/addresses.py: one rule for IPv6 literals, bracketed for gRPC targets, bare for sockets."""

import pytest

from common.addresses import grpc_target, unbracketed


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("127.0.0.1", "127.0.0.1:50052"),
        ("server", "server:50052"),
        ("::1", "[::1]:50052"),
        ("[::1]", "[::1]:50052"),
        ("::", "[::]:50052"),
    ],
)
def test_grpc_targets_bracket_ipv6_literals_once(host, target):
    assert grpc_target(host, 50052) == target


@pytest.mark.parametrize(("host", "bare"), [("[::]", "::"), ("::1", "::1"), ("0.0.0.0", "0.0.0.0")])
def test_sockets_get_the_address_without_brackets(host, bare):
    assert unbracketed(host) == bare
