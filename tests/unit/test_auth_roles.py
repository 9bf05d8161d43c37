"""Roles nest (agent < supervisor < admin) and groups are read defensively from the token."""

from __future__ import annotations

import pytest

from chalicelib.auth import Role, Staff
from chalicelib.auth.roles import parse_groups

pytestmark = pytest.mark.unit


def staff(*groups: str) -> Staff:
    return Staff(sub="s", username="u", email="u@x.test", name="", groups=groups)


def test_roles_nest() -> None:
    assert staff("admin").has(Role.AGENT) and staff("admin").has(Role.SUPERVISOR) and staff("admin").has(Role.ADMIN)
    assert staff("supervisor").has(Role.AGENT) and not staff("supervisor").has(Role.ADMIN)
    assert staff("agent").has(Role.AGENT) and not staff("agent").has(Role.SUPERVISOR)


def test_no_staff_group_means_no_access() -> None:
    # GIVEN a user of the pool in no staff group (or an unknown one)
    for member in (staff(), staff("marketing")):
        # THEN not even the agent routes are open
        assert member.role is None and not member.has(Role.AGENT)


@pytest.mark.parametrize(
    ("value", "groups"),
    [
        (["agent", "admin"], ("agent", "admin")),
        ("[agent admin]", ("agent", "admin")),
        ("agent,supervisor", ("agent", "supervisor")),
        (None, ()),
        (42, ()),
    ],
)
def test_groups_claim_shapes(value: object, groups: tuple[str, ...]) -> None:
    assert parse_groups(value) == groups


def test_identity_comes_from_the_claims() -> None:
    member = Staff.from_claims(
        {"sub": "abc", "cognito:username": "sam", "email": "sam@x.test", "name": "Sam", "cognito:groups": ["agent"]}
    )
    assert member.username == "sam" and member.display_name == "Sam" and member.role == Role.AGENT
