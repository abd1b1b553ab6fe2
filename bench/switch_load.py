"""`python -m bench.switch_load`: iris.v1 Predict at a fixed rate (grpc.aio, one channel), recording
each call's scheduled start, its end, the model version that answered and whether it succeeded,
until SIGTERM.

An open loop: call i starts at t0 + i / rate whether or not earlier calls have answered, and its
latency counts from that scheduled start, so a server that stalls shows the stall in every call it
held up (a closed loop such as h2load sends fewer calls while the server stalls, and hides them).
Times are time.monotonic() seconds (CLOCK_MONOTONIC, one clock for every process of the machine),
so the bench can set them against the moment it published a version. The records go to --out
(.npy, float64 [calls, 4]: start, end, version or 0 when the call failed, ok 1 or 0); --ready is
created once the first call has answered.
"""

import argparse
import asyncio
import pathlib
import signal
import time

import grpc
import numpy as np

from bench import frames
from iris_pb import iris_pb2_grpc

CALL_TIMEOUT_SECONDS = 5.0


async def predict(stub, request, scheduled: float, records: list[tuple]) -> None:
    """One call, recorded as (scheduled start, end, version, ok); a setosa must come back as 0."""
    try:
        reply = await stub.Predict(request, timeout=CALL_TIMEOUT_SECONDS)
        version, ok = int(reply.model_version), reply.species == 0
    except grpc.aio.AioRpcError:
        version, ok = 0, False
    records.append((scheduled, time.monotonic(), version if ok else 0, float(ok)))


async def run(port: int, rate: float, ready: pathlib.Path) -> list[tuple]:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    records: list[tuple] = []
    request = frames.predict_request()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = iris_pb2_grpc.IrisPredictorStub(channel)
        await stub.Predict(request, timeout=CALL_TIMEOUT_SECONDS)  # connected and answering
        await asyncio.to_thread(ready.touch)
        in_flight: set[asyncio.Task] = set()
        started, index = time.monotonic(), 0
        while not stop.is_set():
            scheduled = started + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            task = asyncio.create_task(predict(stub, request, scheduled, records))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            index += 1
        await asyncio.gather(*in_flight)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.switch_load", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="calls started per second")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="records (.npy)")
    parser.add_argument("--ready", type=pathlib.Path, required=True, help="created once a call answered")
    args = parser.parse_args()
    records = asyncio.run(run(args.port, args.rate, args.ready))
    np.save(args.out, np.array(records, dtype=np.float64).reshape(-1, 4))
    failed = sum(1 for record in records if not record[3])
    print(f"switch_load: {len(records)} calls, {failed} failed", flush=True)


if __name__ == "__main__":
    main()
