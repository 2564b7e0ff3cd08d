PYTHON ?= python3

.PHONY: run install test check bench

run: install  ## install and start the registry on 127.0.0.1:5000
	$(PYTHON) -m cargohold serve

install:
	$(PYTHON) -m pip install -q -e .

test:  ## install what the tests need, then run every check and test
	scripts/test

check:
	scripts/test --no-install --checks-only

bench:
	$(PYTHON) -m bench
