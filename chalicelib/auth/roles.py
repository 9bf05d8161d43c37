"""Staff roles (the pool's groups) and the staff member a verified token names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """The Cognito groups of the staff pool; stored names, never renamed."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


def parse_groups(value: Any) -> tuple[str, ...]:
    """`cognito:groups` as a tuple: a JSON list in Cognito's ID token; tolerate the "[a b]" and "a,b"
    strings some API Gateway authorizers pass on, so a change of front door cannot grant or drop roles."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(g for g in value.strip("[]").replace(",", " ").split() if g)
    if isinstance(value, Iterable):
        return tuple(str(g) for g in value if str(g))
    return ()


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in staff member, straight from the verified ID token (never from a request body)."""

    sub: str
    username: str
    email: str
    name: str
    groups: tuple[str, ...]

    @property
    def roles(self) -> tuple[Role, ...]:
        return tuple(r for r in Role if r.value in self.groups)

    @property
    def role(self) -> Role | None:
        """The highest role held, or None for a user in no staff group."""
        return max(self.roles, key=lambda r: r.rank, default=None)

    def has(self, role: Role) -> bool:
        """A supervisor may do what an agent may; an admin everything."""
        best = self.role
        return best is not None and best.rank >= role.rank

    @property
    def display_name(self) -> str:
        return self.name or self.username

    def to_dict(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "username": self.username,
            "email": self.email,
            "name": self.display_name,
            "groups": list(self.groups),
            "role": self.role.value if self.role else None,
            "roles": [r.value for r in self.roles],
        }

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Staff:
        return cls(
            sub=str(claims.get("sub") or ""),
            username=str(claims.get("cognito:username") or claims.get("username") or claims.get("sub") or ""),
            email=str(claims.get("email") or ""),
            name=str(claims.get("name") or ""),
            groups=parse_groups(claims.get("cognito:groups")),
        )
