"""`routes()`: the web UI's pages, mounted at `/` below the registry's own paths
(`/v2`, `/token`, `/api/v1`, `/healthz`, `/readyz`), and how its errors are shown."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from cargohold.oci.errors import RegistryError
from cargohold.services.context import Context
from cargohold.services.errors import ServiceError
from cargohold.web.observe import request_id
from cargohold.web.ui import (
    audit,
    members,
    packages,
    removal,
    signin,
    tokens,
    usage,
    workspaces,
)
from cargohold.web.ui import oidc as oidc_pages
from cargohold.web.ui import people as people_pages
from cargohold.web.ui import projects as project_pages
from cargohold.web.ui import replications as replication_pages
from cargohold.web.ui import repositories as repository_pages
from cargohold.web.ui import webhooks as webhook_pages
from cargohold.web.ui import workspace_settings as workspace_pages
from cargohold.web.ui.csrf import CsrfFailed
from cargohold.web.ui.messages import Said
from cargohold.web.ui.page import SECURITY_HEADERS, begin

STATIC = Path(__file__).parent / "static"
_GET = ["GET", "HEAD"]


async def _error(
    request: Request,
    status: int,
    message: str,
    detail: Said | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    page = await begin(request)
    titles = {
        400: page.gettext("That did not work"),
        403: page.gettext("Not allowed"),
        404: page.gettext("Not found"),
        405: page.gettext("Not allowed"),
        409: page.gettext("That did not work"),
    }
    response = page.render(
        "error.html",
        status,
        title=titles.get(status, message),
        message=message,
        detail=detail,
        path="/",  # an error page never repeats the address it was asked for
    )
    response.headers.update(headers or {})
    return response


async def _refusal(request: Request, exc: ServiceError | RegistryError, status: int) -> Response:
    """The page for a domain error with HTTP status `status` (its class data): a 401 sends
    the visitor to sign in; any other status is a page with that status, a sentence for
    it, the error's message below (not for a 404, which names nothing) and the error's
    headers (`Retry-After`). A value that does not validate (422 in the API) is a 400
    page, as for every form. A refused form says that it expired: nobody did wrong."""
    page = await begin(request)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return page.redirect(f"/sign-in?next={quote(target, safe='')}")
    status = 400 if status == 422 else status
    if status == 404:
        message, detail = page.gettext("There is nothing here."), None
    elif isinstance(exc, CsrfFailed):
        message = page.gettext("The form has expired. Go back, reload the page and try again.")
        detail = None
    elif status == 403:
        message, detail = page.gettext("You may not do this."), page.say(exc)
    else:
        message, detail = page.gettext("That did not work."), page.say(exc)
    return await _error(request, status, message, detail, exc.headers)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return await _refusal(request, exc, exc.status)


async def _registry_error(request: Request, exc: Exception) -> Response:
    """A registry error that reached a page: `Unavailable`, the database or store is down."""
    assert isinstance(exc, RegistryError)
    return await _refusal(request, exc, exc.http_status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    page = await begin(request)
    if exc.status_code == 404:
        return await _error(request, 404, page.gettext("There is nothing here."), None)
    return await _error(request, exc.status_code, page.gettext("That did not work."), None)


async def _server_error(request: Request, exc: Exception) -> Response:
    """An error no handler took: a page naming the request id, under which the request
    middleware (web/observe.py) logs the traceback; the page never shows the traceback."""
    page = await begin(request)
    return page.render(
        "error.html",
        500,
        title=page.gettext("Something went wrong"),
        message=page.gettext(
            "The server could not do this. If it happens again, give your administrator"
            " this request ID:"
        ),
        detail=None,
        request_id=request_id(request),
        path="/",
    )


class _Static(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k != "cache-control"})
        response.headers["cache-control"] = "public, max-age=3600"
        return response


def create_ui(context: Context) -> Starlette:
    """The UI as an application of its own, mounted at `/` after the registry's routes."""
    ws = "/w/{workspace}"
    routes = [
        Route("/", workspaces.home, methods=_GET),
        Route("/sign-in", signin.sign_in_form, methods=_GET),
        Route("/sign-in", signin.sign_in, methods=["POST"]),
        Route("/sign-in/sso", signin.sso_start, methods=_GET),
        Route("/sign-in/sso/callback", signin.sso_callback, methods=_GET),
        Route("/sign-out", signin.sign_out, methods=["POST"]),
        Route("/language", signin.set_language, methods=["POST"]),
        Route("/new-package", packages.new_package_form, methods=_GET),
        Route("/new-package", packages.create_package, methods=["POST"]),
        Route("/p/{rest:path}", packages.package_routes, methods=["GET", "HEAD", "POST"]),
        Route("/settings/tokens", tokens.tokens_page, methods=_GET),
        Route("/settings/tokens", tokens.create_token, methods=["POST"]),
        Route("/settings/tokens/{token}/revoke", tokens.confirm_revoke, methods=_GET),
        Route("/settings/tokens/{token}/revoke", tokens.revoke_token, methods=["POST"]),
        Route("/admin/people", people_pages.people_page, methods=_GET),
        Route("/admin/people", people_pages.change, methods=["POST"]),
        Route("/invitation", people_pages.invitation_page, methods=_GET),
        Route("/invitation", people_pages.accept, methods=["POST"]),
        Route("/new-workspace", workspace_pages.new_workspace_form, methods=_GET),
        Route("/new-workspace", workspace_pages.create_workspace, methods=["POST"]),
        Route(ws, workspaces.packages, methods=_GET),
        Route(ws + "/settings", workspace_pages.settings_page, methods=_GET),
        Route(ws + "/settings", workspace_pages.rename_workspace, methods=["POST"]),
        Route(ws + "/projects", project_pages.projects_page, methods=_GET),
        Route(ws + "/projects", project_pages.create_project, methods=["POST"]),
        Route(ws + "/projects/{project}/settings", project_pages.project_settings, methods=_GET),
        Route(ws + "/projects/{project}/settings", project_pages.rename_project, methods=["POST"]),
        Route(ws + "/repos", repository_pages.repositories_page, methods=_GET),
        Route(ws + "/repos", repository_pages.create_repository, methods=["POST"]),
        Route(
            ws + "/repos/{repository}/settings", repository_pages.repository_settings, methods=_GET
        ),
        Route(
            ws + "/repos/{repository}/settings",
            repository_pages.change_repository,
            methods=["POST"],
        ),
        Route(ws + "/projects/{project}", workspaces.packages, methods=_GET),
        Route(ws + "/repos/{repository}", workspaces.packages, methods=_GET),
        Route(ws + "/usage", usage.usage_page, methods=_GET),
        Route(ws + "/audit", audit.audit_page, methods=_GET),
        Route(ws + "/members", members.members_page, methods=_GET),
        Route(ws + "/members", members.change, methods=["POST"]),
        Route(ws + "/members/remove", removal.confirm_removal, methods=_GET),
        Route(ws + "/webhooks", webhook_pages.webhooks_page, methods=_GET),
        Route(ws + "/webhooks", webhook_pages.create_webhook, methods=["POST"]),
        Route(ws + "/webhooks/{webhook}", webhook_pages.webhook_page, methods=_GET),
        Route(ws + "/webhooks/{webhook}", webhook_pages.change_webhook, methods=["POST"]),
        Route(ws + "/replications", replication_pages.replications_page, methods=_GET),
        Route(ws + "/replications", replication_pages.create_replication, methods=["POST"]),
        Route(ws + "/replications/{replication}", replication_pages.replication_page, methods=_GET),
        Route(
            ws + "/replications/{replication}",
            replication_pages.change_replication,
            methods=["POST"],
        ),
        Route(ws + "/tokens", tokens.tokens_page, methods=_GET),
        Route(ws + "/tokens", tokens.create_token, methods=["POST"]),
        Route(ws + "/tokens/{token}/revoke", tokens.confirm_revoke, methods=_GET),
        Route(ws + "/tokens/{token}/revoke", tokens.revoke_token, methods=["POST"]),
        Route(ws + "/repos/{repository}/tokens", tokens.tokens_page, methods=_GET),
        Route(ws + "/repos/{repository}/tokens", tokens.create_token, methods=["POST"]),
        Route(
            ws + "/repos/{repository}/tokens/{token}/revoke",
            tokens.confirm_revoke,
            methods=_GET,
        ),
        Route(
            ws + "/repos/{repository}/tokens/{token}/revoke",
            tokens.revoke_token,
            methods=["POST"],
        ),
        Route(ws + "/oidc", oidc_pages.policies_page, methods=_GET),
        Route(ws + "/oidc", oidc_pages.create_policy, methods=["POST"]),
        Route(ws + "/oidc/{policy}/delete", oidc_pages.delete_policy, methods=["POST"]),
        Mount("/static", app=_Static(directory=STATIC), name="static"),
    ]
    handlers = {
        ServiceError: _service_error,
        RegistryError: _registry_error,
        HTTPException: _http_error,
        Exception: _server_error,
    }
    ui = Starlette(routes=routes, exception_handlers=handlers)
    ui.state.context = context
    return ui
