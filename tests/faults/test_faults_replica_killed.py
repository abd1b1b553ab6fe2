"""Fault: one of two server replicas is killed with SIGKILL under steady REST load.

The killed replica's connection breaks with calls on it; gRPC retries those (UNAVAILABLE, no
answer started) on the other replica, so at most the calls in flight on it can fail, and we
aim for none. The proxy keeps answering without a restart, and takes the replica back when it
returns on the same port.
"""

import asyncio
import contextlib
import signal

from tests.faults.test_faults_rolling_restart import two_replica_target, wait_until_taken_back
from tests.support.proxy_process import running_proxy
from tests.support.rest_load import LoadResult, steady_load, wait_for_successes
from tests.support.server_process import ServerProcess, free_port, running_server

LOAD_WORKERS = 8
SUCCESSES_PER_PHASE = 300
PHASE_TIMEOUT_SECONDS = 60.0


async def test_sigkill_of_one_replica_fails_no_request(tmp_path):
    """SIGKILL one replica under load: no request fails, the proxy keeps answering, unrestarted."""
    ports = [free_port(), free_port()]
    with contextlib.ExitStack() as processes:

        def start(port: int, generation: int, *args: str) -> ServerProcess:
            log_dir = tmp_path / f"server-{port}-{generation}"
            log_dir.mkdir()
            return processes.enter_context(running_server(log_dir, *args, port=port))

        victim, _survivor = [start(port, 0) for port in ports]
        proxy = processes.enter_context(running_proxy(tmp_path, two_replica_target(ports)))
        stop, result = asyncio.Event(), LoadResult()
        load = asyncio.create_task(steady_load(f"{proxy.url}/", stop, result, workers=LOAD_WORKERS))
        try:
            await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
            exit_code = await asyncio.to_thread(victim.stop, signal.SIGKILL)
            assert exit_code == -signal.SIGKILL
            sent_at_kill = result.sent
            await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
            metrics_port = free_port()
            await asyncio.to_thread(start, ports[0], 1, "--metrics-port", str(metrics_port))
            # The proxy reconnects to it after a backoff of up to 2 s; until then load goes on.
            taken_back_after = await asyncio.to_thread(wait_until_taken_back, metrics_port)
            await wait_for_successes(result, SUCCESSES_PER_PHASE, PHASE_TIMEOUT_SECONDS)
        finally:
            stop.set()
            await load
        assert proxy.process.poll() is None, "the proxy must not restart"
        print(
            f"SIGKILL of one replica after {sent_at_kill} requests: {result.summary()}; "
            f"the returned replica was taken back after {taken_back_after:.1f} s"
        )
        # At most the calls in flight on the killed replica (<= LOAD_WORKERS) could fail; gRPC's
        # retries save even those.
        assert result.failures == [], result.summary() + "\n" + "\n".join(result.failures)
