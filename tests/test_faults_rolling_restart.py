"""Fault: a rolling restart of two server replicas behind one proxy, under steady REST load.

Each replica in turn gets SIGTERM, drains (health NOT_SERVING, in-flight calls finish within
--grace-seconds, new calls refused with UNAVAILABLE) and exits 0, then starts again on the same
port. The proxy's bounded retry of UNAVAILABLE sends refused calls to the other replica, so no
request fails.
"""

import asyncio
import contextlib
import signal

from tests.proxy_process import running_proxy
from tests.rest_load import LoadResult, steady_load, wait_for_successes
from tests.server_process import ServerProcess, free_port, running_server

LOAD_WORKERS = 8
# Successes wanted between steps, so every phase of the restart is under load.
SUCCESSES_PER_PHASE = 200
PHASE_TIMEOUT_SECONDS = 60.0


def two_replica_target(ports: list[int]) -> str:
    """A static gRPC target listing both replicas; the proxy balances over them (round_robin)."""
    return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)


async def test_rolling_restart_fails_no_request(tmp_path):
    """SIGTERM and restart each of two replicas in turn under load: zero failed requests."""
    ports = [free_port(), free_port()]
    with contextlib.ExitStack() as processes:

        def start(port: int, generation: int) -> ServerProcess:
            log_dir = tmp_path / f"server-{port}-{generation}"
            log_dir.mkdir()
            return processes.enter_context(running_server(log_dir, "--grace-seconds", "5", port=port))

        servers = [start(port, 0) for port in ports]
        proxy = processes.enter_context(running_proxy(tmp_path, two_replica_target(ports)))
        stop, result = asyncio.Event(), LoadResult()
        load = asyncio.create_task(steady_load(f"{proxy.url}/", stop, result, workers=LOAD_WORKERS))
        try:
            await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
            for index, port in enumerate(ports):
                exit_code = await asyncio.to_thread(servers[index].stop, signal.SIGTERM)
                assert exit_code == 0, servers[index].log()
                await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
                servers[index] = await asyncio.to_thread(start, port, 1)
                await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
        finally:
            stop.set()
            await load
        assert proxy.process.poll() is None, "the proxy must not restart"
        print(f"rolling restart: {result.summary()}")
        assert result.failures == [], result.summary() + "\n" + "\n".join(result.failures[:20])
        assert result.ok >= 5 * SUCCESSES_PER_PHASE
