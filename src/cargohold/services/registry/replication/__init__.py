"""Push replication: rules that copy every push to a remote registry (docs/replication.md)."""
