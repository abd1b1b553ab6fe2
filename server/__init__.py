"""The iris gRPC server: `python -m server --help`."""
