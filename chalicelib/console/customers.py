"""The customer sidebar: who they are, how to reach them, their earlier conversations and order numbers."""

from __future__ import annotations

import re
from typing import Any

from chalicelib import store
from chalicelib.console.access import QueueAccess
from chalicelib.errors import NotFound
from chalicelib.models import Direction

# How far back the sidebar looks for order numbers: the newest conversations, one Query each.
ORDER_SCAN_CONVERSATIONS = 5
MAX_ORDER_REFERENCES = 10
# "order 12345", "Order #A-1234", "ordernr: 55512", "Bestellnummer 4711", "commande n° 8812", "pedido 9001",
# "beställning 3321": a word for order, an optional "number", then a token with at least one digit.
ORDER_RE = re.compile(
    r"\b(?:order|ordernr|order\s*no|bestellung|bestellnummer|commande|pedido|beställning|ordernummer)"
    r"(?:\s*(?:number|nr|no|nummer|n°|número|numero|#))?\.?\s*[:#]?\s*"
    r"(?P<ref>(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,23})\b",
    re.IGNORECASE,
)


def order_references(texts: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        for m in ORDER_RE.finditer(text or ""):
            seen.setdefault(m.group("ref").upper(), None)
            if len(seen) >= MAX_ORDER_REFERENCES:
                return list(seen)
    return list(seen)


def _identity(value: str) -> dict[str, str]:
    kind, _, address = value.partition("#")
    return {"kind": kind, "value": address}


def customer_view(customer_id: str, access: QueueAccess | None = None) -> dict[str, Any]:
    """The customer, their identities, and previous conversations by one Query on `by_customer`; an agent
    sees (and gets order numbers from) the conversations of the queues they work only."""
    customer = store.get_customer(customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    conversations = store.customer_conversations(customer_id)
    if access is not None:
        conversations = [c for c in conversations if access.allows(c.queue)]
    texts: list[str] = []
    for conv in conversations[:ORDER_SCAN_CONVERSATIONS]:
        texts.append(conv.subject)
        texts += [
            m.new_text or m.text
            for m in store.conversation_messages(conv.conversation_id)
            if m.direction == Direction.IN.value
        ]
    return {
        "customer_id": customer.customer_id,
        "name": customer.name,
        "language": customer.language,
        "identities": [_identity(i) for i in sorted(customer.identities or ())],
        "channels": sorted(customer.channels or ()),
        "tags": sorted(customer.tags or ()),
        "marketing_opt_out": bool(customer.marketing_opt_out),
        "merged_into": customer.merged_into,
        "created_at": customer.created_at.isoformat() if customer.created_at else None,
        "conversations": [
            {
                "conversation_id": c.conversation_id,
                "reference": c.reference,
                "channel": c.channel,
                "status": c.status,
                "topic": c.topic,
                "subject": c.subject,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
            }
            for c in conversations
        ],
        "order_references": order_references(texts),
    }
