"""TLS on the gRPC port, mutual TLS, and TLS from the proxy to the server, with certificates
made at test time (tests/support/tls_files.py): what works, and who is turned away.
"""

import os
import subprocess
import sys

import grpc
import pytest

from iris_pb import iris_pb2, iris_pb2_grpc
from tests.support import client_process
from tests.support.proxy_process import running_proxy
from tests.support.rest_load import FLOWER, FLOWER_SPECIES, LoadResult, burst
from tests.support.server_process import REPO_ROOT, open_channel, running_server
from tests.support.tls_files import TlsFiles, make_tls_files

TIMEOUT_SECONDS = 5


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def tls_args(tls: TlsFiles, mutual: bool = False) -> list[str]:
    args = ["--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_key)]
    return [*args, "--tls-client-ca", str(tls.ca)] if mutual else args


@pytest.fixture(scope="module")
def tls_server(tls, tmp_path_factory):
    """A server speaking TLS (no client certificate needed)."""
    with running_server(
        tmp_path_factory.mktemp("tls-server"), *tls_args(tls), credentials=tls.credentials()
    ) as s:
        yield s


@pytest.fixture(scope="module")
def mtls_server(tls, tmp_path_factory):
    """A server requiring a client certificate signed by the test CA."""
    with running_server(
        tmp_path_factory.mktemp("mtls-server"),
        *tls_args(tls, mutual=True),
        credentials=tls.credentials("client"),
    ) as server:
        yield server


def predict(target: str, credentials: grpc.ChannelCredentials | None) -> int:
    """The species the server at `target` answers for the tutorial flower (raises grpc.RpcError)."""
    with open_channel(target, credentials) as channel:
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        return stub.Predict(iris_pb2.PredictRequest(**FLOWER), timeout=TIMEOUT_SECONDS).species


def refusal(target: str, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    """The status of a Predict call that the server must refuse."""
    with pytest.raises(grpc.RpcError) as raised:
        predict(target, credentials)
    return raised.value.code()


def test_tls_server_answers_a_client_that_trusts_its_ca(tls, tls_server):
    assert predict(tls_server.target, tls.credentials()) == 2


def test_tls_server_refuses_a_plaintext_client(tls_server):
    assert refusal(tls_server.target, None) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_server_answers_a_client_with_a_certificate_from_its_ca(tls, mtls_server):
    assert predict(mtls_server.target, tls.credentials("client")) == 2


@pytest.mark.parametrize("client", [None, "stranger"], ids=["no-client-certificate", "stranger-certificate"])
def test_mutual_tls_server_refuses_other_clients(tls, mtls_server, client):
    """No client certificate, or one signed by another CA: the handshake fails, no call runs."""
    assert refusal(mtls_server.target, tls.credentials(client)) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_server_refuses_a_plaintext_client(mtls_server):
    assert refusal(mtls_server.target, None) == grpc.StatusCode.UNAVAILABLE


def healthcheck(server, tls: TlsFiles, mutual: bool) -> subprocess.CompletedProcess:
    """`python -m server.healthcheck` with the server's own IRIS_* settings, as a container runs it."""
    environ = {
        **os.environ,
        "IRIS_PORT": str(server.port),
        "IRIS_TLS_CERT": str(tls.server_cert),
        "IRIS_TLS_KEY": str(tls.server_key),
        **({"IRIS_TLS_CLIENT_CA": str(tls.ca)} if mutual else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "server.healthcheck"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mutual-tls"])
def test_healthcheck_works_with_tls_on(tls, tls_server, mtls_server, mutual):
    """The container health check reads the server's TLS settings and still says SERVING."""
    result = healthcheck(mtls_server if mutual else tls_server, tls, mutual)
    assert (result.returncode, result.stdout.strip()) == (0, "SERVING"), result.stderr


def test_healthcheck_without_tls_settings_fails_against_a_tls_server(tls_server):
    environ = {key: value for key, value in os.environ.items() if not key.startswith("IRIS_")}
    result = subprocess.run(
        [sys.executable, "-m", "server.healthcheck", "--port", str(tls_server.port)],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy: UNAVAILABLE")


async def proxied_flower(proxy_url: str) -> LoadResult:
    return await burst(f"{proxy_url}/", 1, expected=(503,))


async def test_proxy_reaches_a_tls_server(tls, tls_server, tmp_path):
    with running_proxy(tmp_path, tls_server.target, "--upstream-tls-ca", str(tls.ca)) as proxy:
        result = await proxied_flower(proxy.url)
    assert result.ok == 1, result.summary()


async def test_proxy_reaches_a_mutual_tls_server_with_its_client_certificate(tls, mtls_server, tmp_path):
    args = ["--upstream-tls-ca", str(tls.ca)]
    args += ["--upstream-tls-cert", str(tls.client_cert), "--upstream-tls-key", str(tls.client_key)]
    with running_proxy(tmp_path, mtls_server.target, *args) as proxy:
        result = await proxied_flower(proxy.url)
    assert result.ok == 1, result.summary()


@pytest.mark.parametrize(
    "args",
    [[], ["--upstream-tls-ca", "{ca}"]],
    ids=["plaintext", "tls-without-client-certificate"],
)
async def test_proxy_without_the_right_credentials_answers_503(tls, mtls_server, tmp_path, args):
    """A proxy the server turns away answers 503, as for any unreachable server."""
    with running_proxy(tmp_path, mtls_server.target, *(arg.format(ca=tls.ca) for arg in args)) as proxy:
        result = await proxied_flower(proxy.url)
    assert result.statuses == {503: 1}, result.summary()


def test_server_refuses_a_certificate_without_its_key(tls):
    result = subprocess.run(
        [sys.executable, "-m", "server", "--tls-cert", str(tls.server_cert)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--tls-cert without --tls-key" in result.stderr


def test_server_names_a_missing_tls_file(tmp_path):
    missing = tmp_path / "nowhere.pem"
    environ = {**os.environ, "IRIS_TLS_CLIENT_CA": str(missing)}
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"IRIS_TLS_CLIENT_CA={str(missing)!r} is not valid: expected a readable PEM file" in result.stderr


def test_proxy_refuses_a_client_certificate_without_a_ca(tls):
    args = ["--upstream-tls-cert", str(tls.client_cert), "--upstream-tls-key", str(tls.client_key)]
    result = subprocess.run(
        [sys.executable, "-m", "proxy", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--upstream-tls-cert without --upstream-tls-ca is not valid" in result.stderr


def test_tutorial_answer_over_tls_is_the_same(tls, tls_server, iris_server):
    """TLS changes the transport, not the answer: species and probabilities equal plaintext's."""
    request = iris_pb2.PredictRequest(**FLOWER)
    with (
        open_channel(tls_server.target, tls.credentials()) as secure,
        grpc.insecure_channel(iris_server.target) as plain,
    ):
        over_tls = iris_pb2_grpc.IrisPredictorStub(secure).Predict(request, timeout=TIMEOUT_SECONDS)
        over_plaintext = iris_pb2_grpc.IrisPredictorStub(plain).Predict(request, timeout=TIMEOUT_SECONDS)
    assert over_tls == over_plaintext
    assert str(over_tls.species) == FLOWER_SPECIES


def run_client(server, *args: str) -> subprocess.CompletedProcess:
    flower = [f"--{name.replace('_', '-')}={value}" for name, value in FLOWER.items()]
    return client_process.run_client(server.port, *flower, *args)


def test_client_speaks_tls_with_tls_ca(tls, tls_server):
    result = run_client(tls_server, "--tls-ca", str(tls.ca))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"Predicted species number: {FLOWER_SPECIES}"


def test_client_speaks_mutual_tls_with_its_certificate(tls, mtls_server):
    args = ["--tls-ca", str(tls.ca), "--tls-cert", str(tls.client_cert), "--tls-key", str(tls.client_key)]
    result = run_client(mtls_server, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"Predicted species number: {FLOWER_SPECIES}"


def test_plaintext_client_fails_clearly_against_a_tls_server(tls_server):
    result = run_client(tls_server)
    assert result.returncode == 1
    assert f"127.0.0.1:{tls_server.port}: UNAVAILABLE" in result.stderr


def test_client_refuses_a_certificate_without_a_ca(tls, tls_server):
    result = run_client(tls_server, "--tls-cert", str(tls.client_cert), "--tls-key", str(tls.client_key))
    assert result.returncode == 2
    assert "--tls-cert needs --tls-ca" in result.stderr
