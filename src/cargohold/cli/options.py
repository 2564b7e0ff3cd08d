"""Options several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="TOML settings file; CARGOHOLD_* variables override it."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the database, blobs and keys live."),
]
