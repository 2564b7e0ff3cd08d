"""Interop tests: real clients (docker, skopeo, podman, buildah, oras) against a live server."""
