"""toygrpc: a tracing harness that shows what grpc.aio does inside a real call."""

__version__ = "0.1.0"
