"""Bodies shared by several resources: lists, grants, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from cargohold.authz.roles import Role
from cargohold.services.accounts.directory import RoleGrant

T = TypeVar("T")

PackageName = Annotated[
    str, Path(description="WORKSPACE/NAME; NAME may contain `/`, sent unescaped.")
]

RoleName = Literal["read", "write", "admin"]
_LABELS: dict[Role, RoleName] = {Role.READ: "read", Role.WRITE: "write", Role.ADMIN: "admin"}


class Body(BaseModel):
    """A request body: unknown fields are refused, never ignored."""

    model_config = ConfigDict(extra="forbid")


class Items(BaseModel, Generic[T]):
    items: list[T]
    next_after: str | None = Field(
        default=None, description="Pass as `after` for the next page; null on the last one."
    )


def timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def maybe_timestamp(seconds: float | None) -> datetime | None:
    return None if seconds is None else timestamp(seconds)


class GrantIn(Body):
    role: RoleName


class GrantOut(BaseModel):
    email: str
    display_name: str
    role: RoleName

    @classmethod
    def of(cls, grant: RoleGrant) -> GrantOut:
        return cls(
            email=grant.user.email, display_name=grant.user.display_name, role=label(grant.role)
        )


def label(role: Role) -> RoleName:
    """The name of a role someone holds (never none: what they hold nothing on, they
    do not see)."""
    return _LABELS[role]


def role(name: RoleName) -> Role:
    return Role.parse(name)
