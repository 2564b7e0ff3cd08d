"""Cargohold: a self-hosted container registry for teams."""

__version__ = "0.1.0"
