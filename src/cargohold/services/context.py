"""What every use case works with: the database, the byte store, the settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cargohold.config import Settings
from cargohold.metadata.db import Database
from cargohold.services.hashing import HashStates
from cargohold.storage.base import Backend


@dataclass
class Context:
    db: Database
    storage: Backend
    settings: Settings
    hashes: HashStates = field(default_factory=HashStates)

    @staticmethod
    def now() -> float:
        return time.time()
