"""The REST proxy: an aiohttp service that translates HTTP/JSON to the iris gRPC API.

It never loads the model: the gRPC server is the one source of answers and of validation.
"""
