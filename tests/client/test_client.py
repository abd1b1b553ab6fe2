"""`python -m client` against the real server, as a user runs it."""

import json
import socket
from collections.abc import Iterator

import numpy as np
import onnxruntime
import pytest

from tests.support.client_process import run_client
from tests.support.server_process import ARTIFACTS, ServerProcess, running_server

VIRGINICA = ["--sepal-length", "6.8", "--sepal-width", "3.2", "--petal-length", "5.9", "--petal-width", "2.3"]
CSV_ROWS = [(5.1, 3.5, 1.4, 0.2), (5.9, 3.0, 4.2, 1.5), (6.8, 3.2, 5.9, 2.3)]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("client")) as server:
        yield server


def expected_species(rows) -> list[int]:
    session = onnxruntime.InferenceSession(str(ARTIFACTS / "iris" / "1" / "model.onnx"))
    return session.run(["label"], {"input": np.array(rows, dtype=np.float32)})[0].tolist()


def test_the_first_line_is_the_tutorials(server):
    result = run_client(server.port)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Predicted species number: 0"


def test_own_features_are_sent(server):
    result = run_client(server.port, *VIRGINICA)
    assert result.stdout.splitlines()[:2] == ["Predicted species number: 2", "Species name: virginica"]


def test_json_output(server):
    answer = json.loads(run_client(server.port, *VIRGINICA, "--json").stdout)
    assert (answer["species"], answer["species_name"], answer["model_name"]) == (2, "virginica", "iris")
    assert sum(answer["probabilities"]) == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize("header", ["species,petal_width,petal_length,sepal_width,sepal_length\n", ""])
def test_a_csv_file_is_one_batch_call(server, tmp_path, header):
    path = tmp_path / "flowers.csv"
    if header:  # columns by name, in any order; others ignored
        lines = [f"x,{pw},{pl},{sw},{sl}" for sl, sw, pl, pw in CSV_ROWS]
    else:
        lines = [",".join(map(str, row)) for row in CSV_ROWS]
    path.write_text(header + "\n".join(lines) + "\n\n")
    result = run_client(server.port, "--csv", str(path))
    assert result.returncode == 0, result.stderr
    species = expected_species(CSV_ROWS)
    assert result.stdout.splitlines()[0] == "Predicted species numbers for 3 rows (iris version 1):"
    assert [line.split()[2] for line in result.stdout.splitlines()[1:]] == [str(s) for s in species]
    answer = json.loads(run_client(server.port, "--csv", str(path), "--json").stdout)
    assert [p["species"] for p in answer["predictions"]] == species


def test_a_version_not_served_is_not_found(server):
    assert run_client(server.port, "--model-version", "1").returncode == 0
    result = run_client(server.port, "--model-version", "9")
    assert result.returncode == 1
    assert "NOT_FOUND: model 'iris' has no version '9' served" in result.stderr


def test_an_error_answer_prints_its_status_and_exits_1(server):
    result = run_client(server.port, "--petal-width", "nan")
    assert result.returncode == 1
    assert "INVALID_ARGUMENT: petal_width is NaN" in result.stderr
    assert result.stdout == ""


def test_an_unreachable_server_fails_at_once_not_at_the_deadline():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        result = run_client(closed.getsockname()[1], "--timeout", "30")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr  # not DEADLINE_EXCEEDED: it did not wait


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1,2,3,4\n5,6,7,four\n", "line 2: could not convert string to float"),
        ("a,b\n1,2\n", "the header has no column"),
    ],
)
def test_a_bad_csv_file_is_named_with_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = run_client(1, "--csv", str(path))
    assert result.returncode == 2
    assert message in result.stderr
