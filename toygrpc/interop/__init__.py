"""Drivers for gRPC stacks not written in Python, to check toygrpc against another peer."""
