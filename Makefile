# Everything runs from the project's virtual environment .venv, installed from uv.lock with
# the pinned uv (scripts/uv); nothing is installed into the machine's Python.
VENV := .venv
PYTHON := $(VENV)/bin/python

.PHONY: run install venv-test test check bench lock fuzz image

run: install  ## install and start the registry on 127.0.0.1:5000
	@echo "cargohold is installed in $(VENV)/bin. In a second terminal, from this directory:"
	@echo "  . $(VENV)/bin/activate    # puts the cargohold command on PATH"
	$(VENV)/bin/cargohold serve

install:  ## the registry and what it needs, as uv.lock has them, into .venv
	scripts/uv sync --frozen --inexact

venv-test:  ## and the test tools (ruff, mypy, pytest, ...), without Debian packages
	scripts/uv sync --frozen --extra test

test:  ## install what the tests need, then run every check and test
	scripts/test

check: venv-test  ## ruff, mypy and the import layers only
	scripts/test --no-install --checks-only

fuzz: venv-test  ## the fuzz surfaces, 10,000 random cases each (CARGOHOLD_FUZZ_EXAMPLES=N for more)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" CARGOHOLD_FUZZ_PROFILE=fuzz \
	  $(PYTHON) -m pytest -p no:cacheprovider tests/fuzz

bench: venv-test
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PYTHON) -m bench

lock:  ## after a change to the dependencies in pyproject.toml: resolve them again into uv.lock
	scripts/uv lock

image:  ## the container image cargohold:dev, with the engine DOCKER_HOST names: make image BASE_IMAGE=REF
	@test -n "$(BASE_IMAGE)" || { echo "make image BASE_IMAGE=REF: a Debian bookworm image with python3 and python3-venv (docs/deploy.md)" >&2; exit 2; }
	scripts/build-image "$(BASE_IMAGE)" "$(or $(IMAGE),cargohold:dev)"
