"""Metadata: the schema, its migrations, and the database adapter."""
