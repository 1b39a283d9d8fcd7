"""``toygrpc bench``: what each capture mode costs a grpc.aio program, and what analysis costs."""
