"""What the services share: their log format, how they run one process per core, how an error
names the row and field it is about (error_details), and how every program reads its settings
(settings).

Both images copy this package beside their own (Dockerfile.server, Dockerfile.proxy); it imports
only the standard library and what both images install (prometheus-client, grpcio, grpcio-status,
protobuf).
"""
