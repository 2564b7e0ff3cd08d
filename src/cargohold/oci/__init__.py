"""The OCI Distribution spec as pure code: digests, names, media types, manifests, errors."""
