"""Offline export: train an iris classifier (or take a scikit-learn model fitted elsewhere),
convert it to ONNX, prove parity, publish a version.

Run ``python -m export --help`` from the repository root. The published directory
``artifacts/<name>/<version>/`` is the contract the server reads (see docs/model-export.md).
"""
