"""Domain errors of the management use cases (the registry API has its own, in oci.errors)."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: a message a person can act on."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class Invalid(ServiceError):
    pass


class Forbidden(ServiceError):
    pass


class Unauthenticated(ServiceError):
    """No credentials, where the use case needs to know who is asking."""
