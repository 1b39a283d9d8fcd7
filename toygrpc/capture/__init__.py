"""Capture: run grpc.aio processes with hooks, the core's trace and viztracer, save the run."""
