"""Staff administration through Cognito's admin APIs: list, invite, set role, enable or disable."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.auth import Role, Staff
from chalicelib.console import audit
from chalicelib.console.access import QUEUE_GROUP_PREFIX
from chalicelib.errors import Conflict, Forbidden, NotFound, TransientError, ValidationError
from chalicelib.observability import logger

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import UserTypeTypeDef
    from mypy_boto3_dynamodb import DynamoDBClient

# A campaign's team is small; one page of Cognito's maximum keeps the list a single call.
PAGE = 60


def _attrs(user: UserTypeTypeDef) -> Mapping[str, str]:
    return {a["Name"]: a.get("Value", "") for a in user.get("Attributes", [])}


def _members(idp: CognitoIdentityProviderClient, pool_id: str, group: str) -> list[str]:
    """The usernames in one group; a queue group nobody was given yet does not exist: no members."""
    out: list[str] = []
    token: str | None = None
    while True:
        try:
            page = idp.list_users_in_group(
                UserPoolId=pool_id, GroupName=group, Limit=PAGE, **({"NextToken": token} if token else {})
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return out
            raise
        out += [user["Username"] for user in page.get("Users", [])]
        token = page.get("NextToken")
        if not token:
            return out


def list_staff(*, idp: CognitoIdentityProviderClient, pool_id: str, queues: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every staff member with their role and queues; one ListUsersInGroup per role and per queue
    (Cognito has no 'groups of all users'). `queues`: the campaign's, whose `queue-<id>` groups count."""
    roles: dict[str, set[str]] = {}
    for role in Role:
        for username in _members(idp, pool_id, role.value):
            roles.setdefault(username, set()).add(role.value)
    member_of: dict[str, list[str]] = {}
    for queue in queues:
        for username in _members(idp, pool_id, QUEUE_GROUP_PREFIX + queue):
            member_of.setdefault(username, []).append(queue)
    out = []
    token: str | None = None
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
                    # Empty for an agent: every queue (see console/access.py); supervisors and admins see all.
                    "queues": member_of.get(user["Username"], []),
                }
            )
        token = listing.get("PaginationToken")
        if not token:
            break
    return sorted(out, key=lambda u: u["username"])


# The colleagues' directory (mention completion, assignment) changes rarely: one ListUsers per container
# and this many seconds, whatever the number of agents typing "@".
DIRECTORY_TTL_SECONDS = 120.0
_directory: dict[str, tuple[float, list[dict[str, Any]]]] = {}


def directory(
    *, idp: CognitoIdentityProviderClient, pool_id: str, clock: Callable[[], float] = time.monotonic
) -> list[dict[str, Any]]:
    """The enabled staff members as `{username, name}`: what every colleague may see, cached per pool."""
    cached = _directory.get(pool_id)
    if cached is not None and clock() - cached[0] < DIRECTORY_TTL_SECONDS:
        return cached[1]
    out = []
    token: str | None = None
    while True:
        listing = idp.list_users(UserPoolId=pool_id, Limit=PAGE, **({"PaginationToken": token} if token else {}))
        for user in listing.get("Users", []):
            if user.get("Enabled", True):
                out.append({"username": user["Username"], "name": _attrs(user).get("name", "")})
        token = listing.get("PaginationToken")
        if not token:
            break
    found = sorted(out, key=lambda u: u["username"])
    _directory[pool_id] = (clock(), found)
    return found


def forget_directory() -> None:
    """After an invite, a role change or a disable: the next directory read asks Cognito again."""
    _directory.clear()


def staff_for(
    viewer: Staff, *, idp: CognitoIdentityProviderClient, pool_id: str, queues: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """`GET /api/staff`: an admin gets the whole list (emails, roles, queues, status), everyone else the directory."""
    if viewer.has(Role.ADMIN):
        return list_staff(idp=idp, pool_id=pool_id, queues=queues)
    return directory(idp=idp, pool_id=pool_id)


def _queue_list(value: Any, queues: Sequence[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
        raise ValidationError("'queues' must be a list of queue ids ([] for every queue)", field="queues")
    unknown = sorted(set(value) - set(queues))
    if unknown:
        raise ValidationError(f"unknown queue {unknown[0]!r}: the campaign has {', '.join(queues)}", field="queues")
    return [q for q in queues if q in value]


def _set_queues(
    idp: CognitoIdentityProviderClient, pool_id: str, username: str, wanted: list[str], queues: Sequence[str]
) -> None:
    """Membership of exactly the `queue-<id>` groups of `wanted`; a queue's group is made on its first member."""
    for queue in queues:
        group = QUEUE_GROUP_PREFIX + queue
        if queue in wanted:
            try:
                idp.create_group(UserPoolId=pool_id, GroupName=group, Description=f"Works the {queue} queue")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "GroupExistsException":
                    raise
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
        else:
            try:
                idp.admin_remove_user_from_group(UserPoolId=pool_id, Username=username, GroupName=group)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise


_EMAIL_RE = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


def _role(value: Any) -> Role:
    try:
        return Role(str(value))
    except ValueError as exc:
        raise ValidationError(f"'role' must be one of {', '.join(r.value for r in Role)}", field="role") from exc


@contextmanager
def _cognito() -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "UsernameExistsException":
            raise Conflict("a staff member with that username already exists") from exc
        if code == "UserNotFoundException":
            raise NotFound("no such staff member") from exc
        if code in ("InvalidParameterException", "InvalidPasswordException"):
            raise ValidationError(str(exc.response["Error"].get("Message", "invalid value"))) from exc
        raise TransientError("the user pool is unavailable") from exc


def _set_role(idp: CognitoIdentityProviderClient, pool_id: str, username: str, role: Role) -> None:
    """Exactly one staff group: the others are left first, so a demotion takes effect."""
    for other in Role:
        if other is not role:
            idp.admin_remove_user_from_group(UserPoolId=pool_id, Username=username, GroupName=other.value)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=role.value)


def invite(
    body: Mapping[str, Any],
    *,
    idp: CognitoIdentityProviderClient,
    pool_id: str,
    by: Staff,
    ddb: DynamoDBClient,
    now: datetime,
) -> dict[str, Any]:
    """Invite by email: Cognito mails a temporary password; the first sign-in asks for a new one."""
    email = str(body.get("email") or "").strip().lower()
    if not _EMAIL_RE.match(email):
        raise ValidationError("'email' must be an email address", field="email")
    name = str(body.get("name") or "").strip()[:100]
    role = _role(body.get("role") or Role.AGENT.value)
    username = str(body.get("username") or re.sub(r"[^a-z0-9._-]", "", email.split("@", 1)[0])).lower()
    if not _USERNAME_RE.match(username):
        raise ValidationError("'username' must be 2-63 lower-case letters, digits, dots or dashes", field="username")
    attrs: list[Any] = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    if name:
        attrs.append({"Name": "name", "Value": name})
    with _cognito():
        idp.admin_create_user(
            UserPoolId=pool_id, Username=username, UserAttributes=attrs, DesiredDeliveryMediums=["EMAIL"]
        )
        _set_role(idp, pool_id, username, role)
    forget_directory()
    logger.info("staff invited", extra={"staff": username, "role": role.value, "by": by.username})
    audit.record(
        ddb, subject=f"staff#{username}", event="invite", actor=by.username, now=now, detail={"role": role.value}
    )
    return {"username": username, "email": email, "name": name, "role": role.value, "enabled": True}


def update(
    username: str,
    body: Mapping[str, Any],
    *,
    idp: CognitoIdentityProviderClient,
    pool_id: str,
    by: Staff,
    ddb: DynamoDBClient,
    now: datetime,
    queues: Sequence[str] = (),
) -> dict[str, Any]:
    """Set a staff member's role, queues (`queue-<id>` groups; `[]`: every queue) and/or enable or disable
    them (disabling also ends their sessions). A new role or queue counts from their next sign-in or
    token refresh (the ID token carries the groups)."""
    if "role" not in body and "enabled" not in body and "queues" not in body:
        raise ValidationError("nothing to change: give role, queues and/or enabled")
    wanted = _queue_list(body["queues"], queues) if "queues" in body else None
    if username == by.username:
        # The last admin demoting or disabling themselves would lock the campaign's console.
        raise Forbidden("change your own role or access through another admin")
    with _cognito():
        idp.admin_get_user(UserPoolId=pool_id, Username=username)
        if "role" in body:
            _set_role(idp, pool_id, username, _role(body["role"]))
        if wanted is not None:
            _set_queues(idp, pool_id, username, wanted, queues)
        if "enabled" in body:
            if not isinstance(body["enabled"], bool):
                raise ValidationError("'enabled' must be true or false", field="enabled")
            if body["enabled"]:
                idp.admin_enable_user(UserPoolId=pool_id, Username=username)
            else:
                idp.admin_disable_user(UserPoolId=pool_id, Username=username)
                idp.admin_user_global_sign_out(UserPoolId=pool_id, Username=username)
    forget_directory()
    logger.info("staff changed", extra={"staff": username, "fields": sorted(body), "by": by.username})
    changed = {k: body[k] for k in ("role", "enabled", "queues") if k in body}
    audit.record(ddb, subject=f"staff#{username}", event="staff_change", actor=by.username, now=now, detail=changed)
    return next(u for u in list_staff(idp=idp, pool_id=pool_id, queues=queues) if u["username"] == username)
