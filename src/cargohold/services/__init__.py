"""Use cases: the only code that combines metadata, storage and policy."""
