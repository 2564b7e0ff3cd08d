"""The management JSON API under /api/v1 (FastAPI; OpenAPI at /api/v1/openapi.json)."""
