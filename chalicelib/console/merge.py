"""Merge two customers (supervisor): identities move, conversations join, opt-outs are kept, audited.

Every step is idempotent and conditional on where the data is now, so a retry after a failure part-way
finishes the merge instead of doing any of it twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import UpdateError

from chalicelib import searchindex, store
from chalicelib.auth import Staff
from chalicelib.console import audit
from chalicelib.console.customers import customer_view
from chalicelib.errors import Conflict, NotFound, TransientError, ValidationError
from chalicelib.models import ConversationModel, CustomerModel, IdentityModel
from chalicelib.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _conditional(exc: UpdateError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def merge_customers(body: Mapping[str, Any], *, staff: Staff, ddb: DynamoDBClient, now: datetime) -> dict[str, Any]:
    keep_id, merge_id = str(body.get("keep") or ""), str(body.get("merge") or "")
    if not keep_id or not merge_id:
        raise ValidationError(
            "'keep' and 'merge' (customer ids) are required", field="keep" if not keep_id else "merge"
        )
    if keep_id == merge_id:
        raise ValidationError("a customer cannot be merged into themselves", field="merge")
    keep = store.get_customer(keep_id)
    merged = store.get_customer(merge_id)
    if keep is None or merged is None:
        raise NotFound(f"no customer {keep_id if keep is None else merge_id}")
    if keep.merged_into:
        raise Conflict(f"{keep_id} was itself merged into {keep.merged_into}: keep that one")
    if merged.merged_into and merged.merged_into != keep_id:
        raise Conflict(f"{merge_id} was already merged into {merged.merged_into}")
    identities = set(merged.identities or ())
    moved_identities = 0
    for identity in sorted(identities):
        try:
            IdentityModel(identity=identity).update(
                actions=[IdentityModel.customer_id.set(keep_id)],
                condition=IdentityModel.customer_id.is_in(merge_id, keep_id),
            )
            moved_identities += 1
        except UpdateError as exc:
            if not _conditional(exc):
                raise TransientError("an identity could not be moved") from exc
            # Held by a third customer meanwhile (or gone): not ours to move.
    moved_conversations = 0
    for conv in ConversationModel.by_customer.query(merge_id):
        try:
            ConversationModel(conversation_id=conv.conversation_id).update(
                actions=[ConversationModel.customer_id.set(keep_id), ConversationModel.version.add(1)],
                condition=ConversationModel.customer_id == merge_id,
            )
            moved_conversations += 1
        except UpdateError as exc:
            if not _conditional(exc):
                raise TransientError("a conversation could not be moved") from exc
    actions: list[Any] = [CustomerModel.updated_at.set(now)]
    if identities:
        actions.append(CustomerModel.identities.add(identities))
    if merged.channels:
        actions.append(CustomerModel.channels.add(set(merged.channels)))
    if merged.tags:
        actions.append(CustomerModel.tags.add(set(merged.tags)))
    # An opt-out given under either identity stays in force for the person.
    if merged.marketing_opt_out and not keep.marketing_opt_out:
        actions.append(CustomerModel.marketing_opt_out.set(True))
    if merged.name and not keep.name:
        actions.append(CustomerModel.name.set(merged.name))
    if merged.language and not keep.language:
        actions.append(CustomerModel.language.set(merged.language))
    keep.update(actions=actions)
    # The merged record keeps only its forwarding pointer: its identities and name now live on the kept
    # customer, and a copy left here would survive that customer's erasure.
    merged.update(
        actions=[
            CustomerModel.merged_into.set(keep_id),
            CustomerModel.updated_at.set(now),
            CustomerModel.identities.remove(),
            CustomerModel.name.set(""),
        ]
    )
    if merged.name:
        searchindex.index_customer(keep_id, merged.name)
    # Counts and ids only: the audit trail must not become another copy of the customer's details.
    audit.record(
        ddb,
        subject=f"customer#{keep_id}",
        event="merge",
        actor=staff.username,
        now=now,
        customer_id=keep_id,
        detail={
            "merged": merge_id,
            "identities_moved": moved_identities,
            "conversations_moved": moved_conversations,
        },
    )
    logger.info(
        "customers merged",
        extra={"customer_id": keep_id, "merged": merge_id, "conversations": moved_conversations, "by": staff.username},
    )
    return customer_view(keep_id)
