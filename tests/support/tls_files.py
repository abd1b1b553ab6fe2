"""Certificates made at test time with the `openssl` command line (no Python packages needed).

`make_tls_files(directory)` writes a CA, a server certificate for localhost and 127.0.0.1, a
client certificate signed by the same CA, and a client certificate signed by a stranger CA.
Keys are EC P-256 (fast to make); everything is valid for one day.
"""

import dataclasses
import pathlib
import subprocess

import grpc

OPENSSL_TIMEOUT_SECONDS = 30


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    ca: pathlib.Path  # the CA certificate both sides trust
    server_cert: pathlib.Path  # server certificate followed by the CA's (a full chain)
    server_key: pathlib.Path
    client_cert: pathlib.Path  # signed by `ca`
    client_key: pathlib.Path
    stranger_cert: pathlib.Path  # a client certificate signed by another CA
    stranger_key: pathlib.Path

    def credentials(self, client: str | None = None) -> grpc.ChannelCredentials:
        """Channel credentials trusting `ca`, presenting the "client" or "stranger" certificate."""
        if client is None:
            return grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes())
        cert, key = (
            (self.client_cert, self.client_key)
            if client == "client"
            else (
                self.stranger_cert,
                self.stranger_key,
            )
        )
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=key.read_bytes(),
            certificate_chain=cert.read_bytes(),
        )


def _openssl(*args: str | pathlib.Path) -> None:
    subprocess.run(
        ["openssl", *map(str, args)], check=True, capture_output=True, timeout=OPENSSL_TIMEOUT_SECONDS
    )


def _new_key(path: pathlib.Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)


def _ca(directory: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _new_key(key)
    _openssl(
        "req", "-x509", "-new", "-key", key, "-out", cert, "-days", "1", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def _leaf(
    directory: pathlib.Path, name: str, ca: tuple[pathlib.Path, pathlib.Path], extensions: str
) -> tuple[pathlib.Path, pathlib.Path]:
    cert, key, request, extfile = (
        directory / f"{name}{suffix}" for suffix in (".pem", ".key", ".csr", ".ext")
    )
    _new_key(key)
    _openssl("req", "-new", "-key", key, "-out", request, "-subj", f"/CN={name}")
    extfile.write_text(f"basicConstraints=CA:FALSE\n{extensions}\n")
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1], "-set_serial", "1",
        "-days", "1", "-out", cert, "-extfile", extfile,
    )  # fmt: skip
    return cert, key


def make_tls_files(directory: pathlib.Path) -> TlsFiles:
    ca = _ca(directory, "iris-test-ca")
    stranger_ca = _ca(directory, "stranger-ca")
    # Good for client authentication too: the health check presents the server's own certificate
    # to a server that requires client certificates.
    server_cert, server_key = _leaf(
        directory,
        "server",
        ca,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth",
    )
    chain = directory / "server-chain.pem"
    chain.write_bytes(server_cert.read_bytes() + ca[0].read_bytes())
    client_cert, client_key = _leaf(directory, "iris-proxy", ca, "extendedKeyUsage=clientAuth")
    stranger_cert, stranger_key = _leaf(directory, "stranger", stranger_ca, "extendedKeyUsage=clientAuth")
    return TlsFiles(ca[0], chain, server_key, client_cert, client_key, stranger_cert, stranger_key)
