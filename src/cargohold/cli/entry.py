"""The `cargohold` command's entry point: the CLI, with configuration mistakes reported
as one line a person can act on instead of a traceback."""

from __future__ import annotations

import sys

from pydantic import ValidationError


def settings_problem(exc: ValidationError) -> str:
    """`invalid setting workers (CARGOHOLD_WORKERS): Input should be a valid integer`."""
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        lines.append(f"invalid setting {name} (CARGOHOLD_{name.upper()}): {error.get('msg')}")
    return "\n".join(lines)


def main() -> None:
    from cargohold.cli.main import app

    try:
        app(prog_name="cargohold")
    except ValidationError as exc:
        print(f"cargohold: {settings_problem(exc)}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as exc:
        print(f"cargohold: {exc}", file=sys.stderr)
        sys.exit(2)
