"""Baseline (c): onnxruntime's session.run in this process, no transport at all."""

import json
import os
import subprocess
import sys

PROBE = """
import json, sys, time
import onnxruntime as ort
from bench import frames
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession("artifacts/iris/1/model.onnx", options, providers=["CPUExecutionProvider"])
seconds = float(sys.argv[1])
result = {}
for rows in (1, 1000):
    features = frames.batch_rows(rows)
    session.run(None, {"input": features})
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, {"input": features})
        calls += 1
    elapsed = time.perf_counter() - started
    result[f"{rows}_rows"] = {"calls_per_s": calls / elapsed, "rows_per_s": calls * rows / elapsed,
                              "mean_us": elapsed / calls * 1e6}
print(json.dumps(result))
"""


def measure(cpu: str, seconds: float) -> dict:
    """Calls/s and rows/s of session.run at 1 and 1,000 rows, pinned to `cpu`."""
    command = ["taskset", "-c", cpu, sys.executable, "-c", PROBE, str(seconds)]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": "."}
    )
    return json.loads(out.stdout)
