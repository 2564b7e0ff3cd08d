#!/bin/sh
# Build an image and push it to Cargohold from a CI job: the steps of docs/ci.md as one
# script. Run it in the build context (the directory with the Dockerfile).
#
#   CARGOHOLD_REGISTRY  the registry host, e.g. registry.example.com or 127.0.0.1:5000
#   CARGOHOLD_IMAGE     the package to push, WORKSPACE/NAME, e.g. acme/web
#   CARGOHOLD_TOKEN     a repository access token with write:package (a CI secret)
#   IMAGE_TAG           the tag to push (default: latest)
#   CARGOHOLD_USERNAME  the login name (default: ci; an access token accepts any name)
set -eu

: "${CARGOHOLD_REGISTRY:?set CARGOHOLD_REGISTRY to the registry host}"
: "${CARGOHOLD_IMAGE:?set CARGOHOLD_IMAGE to WORKSPACE/NAME}"
: "${CARGOHOLD_TOKEN:?set CARGOHOLD_TOKEN to a repository access token (write:package)}"
image="$CARGOHOLD_REGISTRY/$CARGOHOLD_IMAGE:${IMAGE_TAG:-latest}"

echo "$CARGOHOLD_TOKEN" | docker login --username "${CARGOHOLD_USERNAME:-ci}" \
  --password-stdin "$CARGOHOLD_REGISTRY"
docker build --tag "$image" .
docker image push "$image"
docker logout "$CARGOHOLD_REGISTRY"
