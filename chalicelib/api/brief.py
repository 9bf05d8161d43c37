"""The campaign brief for staff (Blueprint under /api): read it, mark it read (remembered per staff member)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import aws
from chalicelib.api.staff import staff_route
from chalicelib.auth import Staff
from chalicelib.runtime import get_runtime

brief_api = Blueprint(__name__)


@staff_route(brief_api, "/campaign/brief")
def get_brief(staff: Staff) -> dict[str, Any]:
    from chalicelib.campaign import brief
    from chalicelib.console.audit import audit_table

    rt = get_runtime()
    current = brief.load_brief(rt.campaign.name)
    read = brief.last_read(aws.dynamodb(), table=audit_table(), username=staff.username)
    return {"campaign": rt.campaign.name, "brand": rt.campaign.brand, **brief.brief_view(current, read_digest=read)}


@staff_route(brief_api, "/campaign/brief/read", methods=["POST"], content_types=["application/json"])
def mark_brief_read(staff: Staff) -> dict[str, Any]:
    from chalicelib.campaign import brief
    from chalicelib.console.audit import audit_table

    rt = get_runtime()
    current = brief.load_brief(rt.campaign.name)
    ddb = aws.dynamodb()
    # The read is recorded once per version: opening the panel again writes nothing.
    if brief.last_read(ddb, table=audit_table(), username=staff.username) != current.digest:
        brief.mark_read(ddb, username=staff.username, brief=current, now=rt.clock())
    return brief.brief_view(current, read_digest=current.digest)
