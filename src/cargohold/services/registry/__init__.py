"""The registry plane: uploads, blobs, manifests and tags, packages, the docker bearer
tokens of `/token`, the quota check on the push path and the tag-protection guard.

Builds on `accounts`; imports nothing from `lifecycle`."""
