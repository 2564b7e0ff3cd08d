"""The OCI Distribution API under /v2, one module per resource."""
