"""Staff administration through Cognito's admin APIs: list, invite, set role, enable or disable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.auth import Role

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import UserTypeTypeDef

# A campaign's team is small; one page of Cognito's maximum keeps the list a single call.
PAGE = 60


def _attrs(user: UserTypeTypeDef) -> Mapping[str, str]:
    return {a["Name"]: a.get("Value", "") for a in user.get("Attributes", [])}


def list_staff(*, idp: CognitoIdentityProviderClient, pool_id: str) -> list[dict[str, Any]]:
    """Every staff member with their role; one ListUsersInGroup per role (Cognito has no 'groups of all users')."""
    roles: dict[str, set[str]] = {}
    for role in Role:
        token: str | None = None
        while True:
            page = idp.list_users_in_group(
                UserPoolId=pool_id, GroupName=role.value, Limit=PAGE, **({"NextToken": token} if token else {})
            )
            for user in page.get("Users", []):
                roles.setdefault(user["Username"], set()).add(role.value)
            token = page.get("NextToken")
            if not token:
                break
    out = []
    token = None
    while True:
        listing = idp.list_users(UserPoolId=pool_id, Limit=PAGE, **({"PaginationToken": token} if token else {}))
        for user in listing.get("Users", []):
            attrs = _attrs(user)
            groups = roles.get(user["Username"], set())
            best = max((Role(g) for g in groups), key=lambda r: r.rank, default=None)
            out.append(
                {
                    "username": user["Username"],
                    "email": attrs.get("email", ""),
                    "name": attrs.get("name", ""),
                    "role": best.value if best else None,
                    "enabled": bool(user.get("Enabled", True)),
                    "status": user.get("UserStatus", ""),
                }
            )
        token = listing.get("PaginationToken")
        if not token:
            break
    return sorted(out, key=lambda u: u["username"])
