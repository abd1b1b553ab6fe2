"""The product with one part made free, to measure the most a target could reach (group `ceilings`).

  python -m bench.variants server-constant-handler SERVER_ARGS...
  python -m bench.variants server-cached-model-run SERVER_ARGS...
  python -m bench.variants proxy-no-upstream PROXY_ARGS...

- server-constant-handler: Predict answers every call with the reply the real handler gave the
  first one; gRPC, the interceptors, metrics, health and reflection still run.
- server-cached-model-run: the model's answer for each distinct input array is computed once;
  everything else of a call (decoding, validation, the answer check, the reply) still runs.
- proxy-no-upstream: POST / parses its body as the proxy does and answers a fixed prediction as
  JSON through every middleware, with no gRPC call and no coalescing.

Bench-only: these replace work the product must do, so they are never shipped or used elsewhere.
"""

import runpy
import sys
from collections.abc import Callable

from aiohttp import web


def constant_handler() -> None:
    from server import service

    real_predict = service.IrisPredictorService.Predict
    first_reply = []

    def predict(self, request, context):
        if not first_reply:
            first_reply.append(real_predict(self, request, context))
        return first_reply[0]

    service.IrisPredictorService.Predict = predict


def cached_model_run() -> None:
    from server import model

    real_run = model.OnnxModel._run
    answers = {}

    def run(self, features):
        key = (features.shape, features.tobytes())
        if key not in answers:
            answers[key] = real_run(self, features)
        return answers[key]

    model.OnnxModel._run = run


def no_upstream() -> None:
    from iris_pb import iris_pb2
    from proxy import routes
    from proxy.parsing import read_features
    from proxy.replies import json_reply, prediction_body

    reply = iris_pb2.PredictReply(
        species=2,
        species_name="virginica",
        probabilities=[0.0, 0.1, 0.9],
        model_name="iris",
        model_version="1",
    )

    async def predict_one(request: web.Request) -> web.Response:
        await read_features(request)
        return json_reply(prediction_body(reply))

    routes.predict_one = predict_one


VARIANTS: dict[str, tuple[Callable[[], None], str]] = {
    "server-constant-handler": (constant_handler, "server"),
    "server-cached-model-run": (cached_model_run, "server"),
    "proxy-no-upstream": (no_upstream, "proxy"),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: python -m bench.variants {{{','.join(VARIANTS)}}} ARGS...")
    patch, module = VARIANTS[sys.argv[1]]
    patch()
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
