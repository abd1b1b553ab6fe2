"""`python -m server.healthcheck`: exit 0 if the local server's health service says SERVING, else 1.

For container HEALTHCHECKs (the slim image has no curl or grpc_health_probe). The port defaults
to IRIS_PORT, like the server's.
"""

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.config import DEFAULT_PORT, env_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.healthcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get(env_name("--port"), DEFAULT_PORT)), help="[IRIS_PORT]"
    )
    parser.add_argument("--service", default="", help="service to ask about (default '': the whole server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    args = parser.parse_args(argv)
    host = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
    with grpc.insecure_channel(f"{host}:{args.port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as error:
            print(f"unhealthy: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(status)
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
