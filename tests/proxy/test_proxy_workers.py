"""The proxy on every core: `--workers N` processes share the port, their metrics are summed, and
each drains on SIGTERM; and its calls reach every worker of a server whose --workers share one
address (--upstream-connections)."""

import json
import signal
import time
import urllib.error
import urllib.request

from tests.support.prometheus_text import parse, per_process, value, workers_metrics_directory
from tests.support.proxy_process import running_proxy
from tests.support.server_process import free_port, running_server

FORM = b"sepal_length=6.8&sepal_width=3.2&petal_length=5.9&petal_width=2.3"
TIMEOUT = 30
REQUESTS = 40


def post_flower(url: str) -> dict:
    """POST the tutorial's flower on a connection of its own (urllib never keeps one alive)."""
    with urllib.request.urlopen(urllib.request.Request(url, data=FORM), timeout=TIMEOUT) as answer:
        return json.load(answer)


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for_workers(proxy, count: int) -> None:
    """Block until `count` workers have started (running_proxy waits for the first to answer)."""
    deadline = time.monotonic() + TIMEOUT
    while proxy.log().count("proxy started") < count:
        assert time.monotonic() < deadline, proxy.log()
        time.sleep(0.02)


def test_two_proxy_workers_share_the_port_and_the_metrics_count_them_all(iris_server, tmp_path):
    """Connections spread over both workers; either worker's /metrics counts every request."""
    env = {"TMPDIR": str(tmp_path)}
    with running_proxy(tmp_path, iris_server.target, "--workers", "2", env=env) as proxy:
        wait_for_workers(proxy, 2)
        for _ in range(REQUESTS):
            assert post_flower(f"{proxy.url}/")["species"] == "2"
        per_worker = per_process(workers_metrics_directory(tmp_path), "iris_http_requests_total")
        scrapes = [urllib.request.urlopen(f"{proxy.url}/metrics", timeout=TIMEOUT).read() for _ in range(4)]
    assert len(per_worker) == 2, per_worker
    assert all(per_worker.values()), per_worker
    for text in scrapes:
        samples = parse(text.decode())
        assert value(samples, "iris_http_requests_total", route="/", method="POST", status="200") == REQUESTS
        workers = {
            dict(labels).get("worker") for name, labels in samples if name == "process_cpu_seconds_total"
        }
        assert workers == {"0", "1", "parent"}


def test_a_draining_proxy_is_not_ready_while_it_still_answers(iris_server, tmp_path):
    """After SIGTERM, /readyz answers 503 at once while POST / is answered for --drain-seconds; exit 0."""
    args = ("--workers", "2", "--drain-seconds", "5")
    with running_proxy(tmp_path, iris_server.target, *args, env={"TMPDIR": str(tmp_path)}) as proxy:
        wait_for_workers(proxy, 2)
        assert get_status(f"{proxy.url}/readyz") == 200
        proxy.process.send_signal(signal.SIGTERM)
        statuses = set()
        while statuses != {503}:  # both workers have turned: new connections reach either
            statuses = {get_status(f"{proxy.url}/readyz") for _ in range(8)}
            assert proxy.process.poll() is None, proxy.log()
        assert post_flower(f"{proxy.url}/")["species"] == "2"
        assert proxy.process.wait(TIMEOUT) == 0
    assert proxy.log().count("proxy stopped") == 2


async def test_the_proxys_calls_reach_every_worker_of_a_server(proxy_client, tmp_path):
    """Behind one address a server at --workers 2 answers on both workers with several connections
    (--upstream-connections 16), where one connection reaches one worker only."""
    metrics_port = free_port()
    args = ("--workers", "2", "--metrics-port", str(metrics_port))
    with running_server(tmp_path, *args, env={"TMPDIR": str(tmp_path)}) as server:
        rows_per_worker = []
        for connections in (1, 16):
            before = per_process(workers_metrics_directory(tmp_path), "iris_predicted_rows_total")
            client = await proxy_client(upstream=server.target, upstream_connections=connections)
            for _ in range(REQUESTS):
                answer = await client.post("/predict", json={"instances": [[6.8, 3.2, 5.9, 2.3]]})
                assert answer.status == 200, await answer.text()
            after = per_process(workers_metrics_directory(tmp_path), "iris_predicted_rows_total")
            rows_per_worker.append({pid: after[pid] - before.get(pid, 0) for pid in after})
            await client.close()
    one_connection, sixteen = rows_per_worker
    assert sorted(one_connection.values()) == [0, REQUESTS], one_connection
    assert len(sixteen) == 2, sixteen
    assert all(sixteen.values()), sixteen
    assert sum(sixteen.values()) == REQUESTS
