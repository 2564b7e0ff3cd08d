"""Where the UI sits in the app: the paths it answers, and its mount, which builds the UI
(web/ui/app.py, and Jinja and Babel with it) on the first request to one of them."""

from __future__ import annotations

from starlette.routing import Match, Mount
from starlette.types import Scope

from cargohold.services.context import Context
from cargohold.web.actors import RequestActor
from cargohold.web.lazy import LazyApp

# The paths the UI answers; everything else stays the registry's (its 404 and 405).
PREFIXES = (
    "/admin/",
    "/invitation",
    "/sign-in",
    "/sign-out",
    "/language",
    "/new-package",
    "/new-workspace",
    "/p/",
    "/settings/",
    "/w/",
)


class UiMount(Mount):
    """Mounts the UI at `/`, claiming only the UI's own paths."""

    def __init__(self, context: Context) -> None:
        super().__init__("/", app=RequestActor(LazyApp("cargohold.web.ui.app:create_ui", context)))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if scope["type"] == "http" and (
            path == "/" or path.startswith(PREFIXES) or path.startswith("/static/")
        ):
            return super().matches(scope)
        return Match.NONE, {}
