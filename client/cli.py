"""The client's command line: one flower (Predict) or a CSV file of them (PredictBatch).

Exit codes: 0 answered, 1 the call failed (unreachable server, deadline, error status),
2 bad command line or CSV file. Calls never wait for an unreachable server: they fail at once,
or at the --timeout deadline at the latest.
"""

import argparse
import json
import pathlib
import sys
import uuid
from collections.abc import Sequence

import grpc

from client.csv_rows import CsvError, read_rows
from common.addresses import grpc_target
from common.names import FEATURE_NAMES, REQUEST_ID_KEY
from common.tls import channel_credentials
from iris_pb import iris_pb2, iris_pb2_grpc

SETOSA = (5.1, 3.5, 1.4, 0.2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m client", description="Classify iris flowers with the server."
    )
    parser.add_argument("--host", default="localhost", help="server host (default localhost)")
    parser.add_argument("--port", type=int, default=50052, help="server gRPC port (default 50052)")
    for name, default in zip(FEATURE_NAMES, SETOSA, strict=True):
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=float, default=default, metavar="CM", help=f"(default {default})")
    parser.add_argument(
        "--csv", type=pathlib.Path, metavar="FILE", help="classify every row of FILE in one call"
    )
    parser.add_argument(
        "--model-version",
        metavar="N",
        help="version of the iris model to answer with (default: the latest the server serves)",
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before giving up (default 5)")
    parser.add_argument(
        "--tls-ca",
        type=pathlib.Path,
        metavar="FILE",
        help="speak TLS, verifying the server with these PEM CAs",
    )
    parser.add_argument(
        "--tls-cert",
        type=pathlib.Path,
        metavar="FILE",
        help="PEM client certificate (mutual TLS; with --tls-key)",
    )
    parser.add_argument("--tls-key", type=pathlib.Path, metavar="FILE", help="PEM private key of --tls-cert")
    return parser


def open_channel(target: str, args: argparse.Namespace) -> grpc.Channel:
    """A plaintext channel, or TLS with --tls-ca (and a client certificate with --tls-cert)."""
    credentials = channel_credentials(args.tls_ca, args.tls_cert, args.tls_key)
    if credentials is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, credentials)


def _check_tls_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_cert is not None and args.tls_ca is None:
        parser.error("--tls-cert needs --tls-ca: a client certificate is only sent over TLS")
    for path in (args.tls_ca, args.tls_cert, args.tls_key):
        if path is not None and not path.is_file():
            parser.error(f"{path}: no such file")


def _format_probabilities(probabilities: Sequence[float]) -> str:
    return " ".join(f"{p:.3f}" for p in probabilities)


def predict_one(stub: iris_pb2_grpc.IrisPredictorStub, args: argparse.Namespace, metadata: list) -> str:
    request = iris_pb2.PredictRequest(
        model_version=args.model_version or "", **{name: getattr(args, name) for name in FEATURE_NAMES}
    )
    reply = stub.Predict(request, timeout=args.timeout, metadata=metadata)
    if args.json:
        return json.dumps(
            {
                "species": reply.species,
                "species_name": reply.species_name,
                "probabilities": list(reply.probabilities),
                "model_name": reply.model_name,
                "model_version": reply.model_version,
            }
        )
    return "\n".join(
        [
            f"Predicted species number: {reply.species}",
            f"Species name: {reply.species_name}",
            f"Probabilities: {_format_probabilities(reply.probabilities)}",
            f"Model: {reply.model_name} version {reply.model_version}",
        ]
    )


def predict_csv(stub: iris_pb2_grpc.IrisPredictorStub, args: argparse.Namespace, metadata: list) -> str:
    rows = read_rows(args.csv)
    features = [value for row in rows for value in row]
    request = iris_pb2.PredictBatchRequest(features=features, model_version=args.model_version or "")
    reply = stub.PredictBatch(request, timeout=args.timeout, metadata=metadata)
    width = len(reply.class_names)
    probabilities = [
        list(reply.probabilities[width * i : width * (i + 1)]) for i in range(len(reply.species))
    ]
    names = [reply.class_names[species] for species in reply.species]
    if args.json:
        predictions = [
            {"species": s, "species_name": n, "probabilities": p}
            for s, n, p in zip(reply.species, names, probabilities, strict=True)
        ]
        model = {"model_name": reply.model_name, "model_version": reply.model_version}
        return json.dumps({**model, "predictions": predictions})
    lines = [
        f"Predicted species numbers for {len(rows)} rows ({reply.model_name} version {reply.model_version}):"
    ]
    for row, (species, name, row_probabilities) in enumerate(
        zip(reply.species, names, probabilities, strict=True)
    ):
        lines.append(f"row {row}: {species} {name} ({_format_probabilities(row_probabilities)})")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_tls_arguments(parser, args)
    request_id = uuid.uuid4().hex
    metadata = [(REQUEST_ID_KEY, request_id)]
    with open_channel(grpc_target(args.host, args.port), args) as channel:
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        try:
            output = predict_csv(stub, args, metadata) if args.csv else predict_one(stub, args, metadata)
        except CsvError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except grpc.RpcError as error:
            where = grpc_target(args.host, args.port)
            print(
                f"error: {where}: {error.code().name}: {error.details()} (request id {request_id})",
                file=sys.stderr,
            )
            return 1
    print(output)
    return 0
