"""One measured point: a real call checks the answer, the load runs, the call checks it again, and
the point is recorded as a row (failed, never fast, if any of that went wrong)."""

import argparse

from bench import frames, loadgen, report, steps
from bench.processes import Service
from bench.product import LOAD_CPU, SERVER_CPU


class Bench:
    """Runs the points of one benchmark and collects their rows."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.rows: list[dict] = []
        self.round: int | None = None  # the round being measured; None for groups measured once
        self.startup: dict[int | None, dict] = {}  # round -> start-up of its server
        self.soak: dict | None = None
        self.version_switches: list[dict] = []  # group repository, one run per --poll-seconds
        self.bodies = frames.write_bodies(args.out / "bodies")
        self.logs = args.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: list[str], cpu: str | None = SERVER_CPU) -> Service:
        return Service(name, args, cpu, self.logs / f"{name.replace(' ', '_')}.log")

    def grpc_point(
        self,
        group,
        service,
        method,
        body,
        streams,
        check,
        connections=1,
        rows=1,
        messages=1,
        cpu=LOAD_CPU,
        label=None,
        threads=1,
        step=None,
    ):
        """h2load POSTs file `body` to `method` over `connections` x `streams` streams; `step`, if the
        point has one, is its identifier in bench/steps.py."""
        url = f"http://127.0.0.1:{service.port}/{method}"
        seconds, warmup = self.args.seconds, self.args.warmup
        self._run(
            group,
            service,
            label or f"{method.rsplit('/', 1)[1]} {body}",
            step,
            connections * streams,
            rows,
            messages,
            check,
            lambda: loadgen.h2load(
                url, self.bodies[body], connections, streams, seconds, warmup, cpu, threads
            ),
        )

    def rest_point(
        self,
        group,
        service,
        label,
        path,
        body,
        content_type,
        connections,
        check,
        rows=1,
        cpu=LOAD_CPU,
        threads=1,
        step=None,
    ):
        """wrk POSTs `body` to `path` over `connections` connections; `step` as for grpc_point."""
        url = f"http://127.0.0.1:{service.port}{path}"
        seconds, warmup = self.args.seconds, self.args.warmup
        self._run(
            group,
            service,
            label,
            step,
            connections,
            rows,
            1,
            check,
            lambda: loadgen.wrk(url, body, content_type, connections, seconds, warmup, cpu, threads),
        )

    def _run(self, group, service, label, step, concurrency, rows, messages, check, load) -> None:
        if step is not None:
            steps.require_known([step])
        row = {
            "group": group,
            "point": label,
            "step": step,
            "concurrency": concurrency,
            "rows_per_request": rows,
            "messages_per_request": messages,
            "round": self.round,
        }
        try:
            if not check():
                raise RuntimeError("wrong answer before the load")
            result = load()
            if result.errors:
                raise RuntimeError(f"{result.errors} errors under load")
            if not check():
                raise RuntimeError("wrong answer after the load")
            row.update(
                status="ok",
                rps=result.rps,
                rows_per_s=result.rps * rows,
                messages_per_s=result.rps * messages,
                mean_ms=result.mean_ms,
                p50_ms=result.p50_ms,
                p99_ms=result.p99_ms,
                errors=result.errors,
            )
        except Exception as error:  # a failed point is reported as failed, never as fast
            row.update(status=f"FAILED: {_first_line(error)}")
        row["rss_mib"] = service.rss_mib() if hasattr(service, "rss_mib") else None
        print(report.one_line(row), flush=True)
        self.rows.append(row)


def _first_line(error: Exception) -> str:
    details = getattr(error, "details", None)
    if callable(details):  # a grpc.RpcError
        return f"{error.code().name}: {details()}"
    return (str(error).splitlines() or [type(error).__name__])[0][:200]
