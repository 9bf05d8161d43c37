"""GDPR routes for admins (Blueprint under /api): export a customer's data, erase it with a tombstone."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import aws
from chalicelib.api.staff import json_body, staff_route
from chalicelib.auth import Role, Staff
from chalicelib.errors import ValidationError
from chalicelib.ops.stack import StackNames
from chalicelib.runtime import get_runtime

gdpr_api = Blueprint(__name__)
_JSON = ["application/json"]


def _names() -> StackNames:
    from chalicelib.gdpr.audit import bind_audit

    rt = get_runtime()  # binds the models to this stage's tables
    names = StackNames.from_settings(rt.settings)
    bind_audit(names.table("audit"), endpoint=rt.settings.endpoint_url, region=rt.settings.region)
    return names


@staff_route(gdpr_api, "/customers/{customer_id}/export", role=Role.ADMIN)
def export(staff: Staff, customer_id: str) -> dict[str, Any]:
    """GDPR Art. 15: the customer's data as one JSON document (attachments and raw objects as S3 keys)."""
    from chalicelib.gdpr.export import export_customer
    from chalicelib.gdpr.subject import find_subject

    names = _names()
    rt = get_runtime()
    return export_customer(find_subject(customer_id=customer_id), campaign=names.campaign, now=rt.clock())


@staff_route(gdpr_api, "/customers/{customer_id}/erase", methods=["POST"], role=Role.ADMIN, content_types=_JSON)
def erase(staff: Staff, customer_id: str) -> dict[str, Any]:
    """GDPR Art. 17: `{"confirm": "<customer_id>"}` erases; calling again continues or returns the tombstone."""
    from chalicelib.gdpr.erase import Clients, erase_customer
    from chalicelib.gdpr.subject import find_subject

    if json_body(gdpr_api).get("confirm") != customer_id:
        raise ValidationError("'confirm' must repeat the customer id", field="confirm")
    names = _names()
    rt = get_runtime()
    clients = Clients(s3=rt.s3, sqs=aws.sqs(), dynamodb=aws.dynamodb(), sfn=rt.sfn, names=names)
    # Who erased comes from the token, never from the body.
    return erase_customer(
        find_subject(customer_id=customer_id), actor=staff.username, now=rt.clock(), clients=clients
    ).to_dict()
