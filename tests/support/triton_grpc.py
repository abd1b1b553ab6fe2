"""Triton's gRPC client (`tritonclient.grpc`), loaded so it can share a process with inference_pb.

Triton's grpc_service.proto and this project's grpc_predict_v2.proto both declare protobuf
package `inference` (that is what makes them wire-compatible), and protobuf's default descriptor
pool refuses a second definition of a symbol such as `inference.ModelInferRequest`. The test
process imports ours through the server and proxy packages, so tritonclient's generated modules
are loaded into a descriptor pool of their own. Bytes on the wire are the same either way.

Test modules import the client from here: `from tests.support.triton_grpc import triton`.
"""

import sys
from unittest import mock

from google.protobuf import descriptor_pool

import inference_pb.grpc_predict_v2_pb2  # noqa: F401  (ours owns the default pool's `inference`)

if "tritonclient.grpc" in sys.modules:
    raise ImportError(
        "tritonclient.grpc was imported before tests/support/triton_grpc.py; import it from here"
    )

with mock.patch.object(descriptor_pool, "Default", return_value=descriptor_pool.DescriptorPool()):
    import tritonclient.grpc as triton

__all__ = ["triton"]
