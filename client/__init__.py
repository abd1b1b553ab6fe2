"""Command-line client for the iris gRPC server: `python -m client --help`."""
