"""Domain errors of the management use cases (the registry API has its own, in oci.errors).

Like the OCI errors, each class carries its HTTP status as class data (`status`), and an
error may carry response headers (`Retry-After`). The API and the UI render every
service error from that data in one handler each; neither keeps a table of classes.
The one thing a renderer adds itself is the `WWW-Authenticate` challenge of a 401,
which depends on the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class ServiceError(Exception):
    """Base: a message a person can act on. Every subclass declares its `status`."""

    status: ClassVar[int] = 400  # what a subclass that forgot to say would answer

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(message)


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class Forbidden(ServiceError):
    status = 403


class Unauthenticated(ServiceError):
    """No credentials, where the use case needs to know who is asking."""

    status = 401
