"""The one error model (services/errors.py): every service error carries its HTTP status
as class data, so the API and the UI render it with no table of their own."""

from __future__ import annotations

import importlib
import pkgutil
from http import HTTPStatus

import pytest

import cargohold.services
import cargohold.web
from cargohold.services.accounts.logins import TooManyAttempts
from cargohold.services.errors import ServiceError


def all_service_errors() -> list[type[ServiceError]]:
    """Every subclass of ServiceError that services/ and web/ define, at any depth."""
    for package in (cargohold.services, cargohold.web):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    found: list[type[ServiceError]] = []
    pending = list(ServiceError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def example(cls: type[ServiceError]) -> ServiceError:
    """An instance of `cls` whatever its constructor asks for."""
    error = cls.__new__(cls)
    ServiceError.__init__(error, "an example")
    return error


ERRORS = all_service_errors()


def test_the_errors_of_logins_and_of_forms_are_service_errors_too() -> None:
    names = {cls.__name__ for cls in ERRORS}
    assert {"LoginFailed", "TooManyAttempts", "CsrfFailed", "Unauthenticated"} <= names


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_service_error_declares_its_own_http_error_status(cls: type[ServiceError]) -> None:
    assert "status" in vars(cls), f"{cls.__qualname__} inherits its status"
    assert 400 <= cls.status < 600
    HTTPStatus(cls.status)  # a status with a name


def test_an_error_carries_no_headers_unless_given() -> None:
    assert ServiceError("x").headers == {}
    assert ServiceError("x", headers={"Retry-After": "1"}).headers == {"Retry-After": "1"}


def test_too_many_attempts_says_when_to_retry_in_its_headers() -> None:
    error = TooManyAttempts(30)
    assert error.status == 429
    assert error.headers == {"Retry-After": "30"}
    assert error.message.startswith("too many password logins; try again in 30 s")
