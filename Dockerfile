# The official Cargohold image. Build it with `make image BASE_IMAGE=REF` (scripts/build-image),
# which makes the wheels on the host from uv.lock and this working tree (build/image/wheels):
# the build installs them offline, so it needs no network and no package registry.
#
# BASE_IMAGE: Debian bookworm with python3 (3.11, as the wheels are) and python3-venv, e.g.
#   debootstrap --variant=minbase --include=python3,python3-venv bookworm ROOT
#   tar -C ROOT -c . | docker import - debian-python:bookworm
#
# Run:  docker run -d -p 5000:5000 -v cargohold-data:/data cargohold:dev
# Every setting is a CARGOHOLD_* variable (docs/configuration.md, docs/deploy.md).
ARG BASE_IMAGE

FROM ${BASE_IMAGE} AS build
ARG PYTHON_VERSION=3.11
COPY build/image/wheels/ /wheels/
# The locked dependencies with the lock's hashes, then cargohold itself; pip (and setuptools)
# are not needed at run time and are removed again.
RUN python3 -c "import sys; v = '%d.%d' % sys.version_info[:2]; \
assert v == '${PYTHON_VERSION}', f'the base image has Python {v}; the wheels are for ${PYTHON_VERSION}'" \
 && python3 -m venv /opt/cargohold \
 && /opt/cargohold/bin/pip install --quiet --disable-pip-version-check --no-index --find-links /wheels \
      --require-hashes --no-deps --requirement /wheels/requirements.txt \
 && /opt/cargohold/bin/pip install --quiet --disable-pip-version-check --no-index --no-deps \
      /wheels/cargohold-*.whl \
 && /opt/cargohold/bin/pip check --disable-pip-version-check \
 && /opt/cargohold/bin/python -m pip uninstall --quiet --yes pip setuptools \
 && /opt/cargohold/bin/cargohold --help >/dev/null

FROM ${BASE_IMAGE}
# A user of its own (no login, no home but the data), and the data volume it owns: a new
# named volume takes this folder's owner and mode (0700).
RUN groupadd --system --gid 10001 cargohold \
 && useradd --system --uid 10001 --gid cargohold --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin cargohold \
 && mkdir -p /data \
 && chown cargohold:cargohold /data \
 && chmod 0700 /data
COPY --from=build /opt/cargohold /opt/cargohold
# Inside its own network namespace the container listens on every address: auth stays on
# (token; `cargohold serve` refuses auth = none beyond loopback).
ENV PATH=/opt/cargohold/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CARGOHOLD_DATA_DIR=/data \
    CARGOHOLD_HOST=0.0.0.0 \
    CARGOHOLD_PORT=5000 \
    CARGOHOLD_AUTH=token
USER cargohold
WORKDIR /data
VOLUME /data
EXPOSE 5000
# /healthz: the process answers (on the port and scheme the settings give).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python3 -c "import os, ssl, urllib.request as r; e = os.environ.get; \
h = {'0.0.0.0': '127.0.0.1', '::': '[::1]', '': '127.0.0.1'}.get(e('CARGOHOLD_HOST', ''), e('CARGOHOLD_HOST')); \
s = 'https' if e('CARGOHOLD_TLS_CERT') else 'http'; \
r.urlopen(f'{s}://{h}:{e(\"CARGOHOLD_PORT\", \"5000\")}/healthz', timeout=4, context=ssl._create_unverified_context())"
ENTRYPOINT ["cargohold"]
CMD ["serve"]
