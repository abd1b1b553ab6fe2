"""What the services share: their log format and how they run one process per core.

Both images copy this package beside their own (Dockerfile.server, Dockerfile.proxy); it imports
only the standard library and prometheus-client, which both images install.
"""
