"""Keeping the store tidy while it serves: garbage collection (with its history and
leases), reachability, retention, and the usage reports.

Builds on `registry` and `accounts`; nothing imports it but the edges (web, cli)."""
