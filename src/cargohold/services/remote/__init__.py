"""Other registries, as a client of their /v2 API: the upstreams of mirrors (pull) and the
targets of replication (push)."""
