"""The rule of services/ (docs/architecture.md): in each domain, permission-checked use
cases live in `checked/` and take the principal asking; the operations beside them never
import them (the import-linter contracts in pyproject.toml, which must name every one)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

import cargohold.services

SERVICES = Path(cargohold.services.__file__).parent
DOMAINS = ("accounts", "registry", "lifecycle")
PYPROJECT = SERVICES.parents[2] / "pyproject.toml"


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")


def _public_functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text())
    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
    ]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_checked_use_case_takes_the_principal_asking(domain: str) -> None:
    """A public function of `checked/` that reads or writes the database takes the
    principal (helpers that only shape results may not)."""
    missing = [
        f"{path.stem}.{fn.name}"
        for path in _modules(SERVICES / domain / "checked")
        for fn in _public_functions(path)
        if any(ast.unparse(a.annotation or ast.Constant("")) == "Queries" for a in fn.args.args)
        and "principal" not in {a.arg for a in fn.args.args + fn.args.kwonlyargs}
    ]
    assert missing == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_contract_of_each_domain_names_every_operation(domain: str) -> None:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    first = f"cargohold.services.{domain}.checked"
    layers = next(c["layers"] for c in contracts if c.get("layers", [""])[0] == first)
    named = {name.strip() for name in layers[1].split(":")}
    expected = {f"cargohold.services.{domain}.{p.stem}" for p in _modules(SERVICES / domain)}
    assert named == expected
