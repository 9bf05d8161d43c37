"""Who a GDPR request is about: one customer, found by email, phone or customer id."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import NotFound, ValidationError
from chalicelib.models import CustomerModel, IdentityModel


@dataclass(frozen=True, slots=True)
class Subject:
    """The customer a request is about, and every identity (address, phone) they hold."""

    customer_id: str
    identities: tuple[str, ...]
    exists: bool


def identity_for(*, email: str | None = None, phone: str | None = None) -> str:
    """The normalised identity string, as the intake stores it."""
    if email:
        address = email.strip().lower()
        if "@" not in address:
            raise ValidationError("--email is not an email address", field="email")
        return f"email#{address}"
    if phone:
        from chalicelib.intake.web import normalise_phone

        return f"phone#{normalise_phone(phone)}"
    raise ValidationError("give an email, a phone or a customer id", field="subject")


def erased_customer_id(identity: str) -> str:
    """The customer an identity belonged to, from the erasure's hashed reference, else the id it would get."""
    from chalicelib.gdpr.audit import AuditModel
    from chalicelib.gdpr.hashing import identity_hashes
    from chalicelib.store import stable_id

    for hashed in identity_hashes(identity):  # keyed, then an earlier erasure's unkeyed reference
        for ref in AuditModel.query(hashed, scan_index_forward=False, limit=1):
            return ref.customer_id
    # Customers are keyed by their first identity.
    return "cus_" + stable_id("identity", identity)


def find_subject(*, email: str | None = None, phone: str | None = None, customer_id: str | None = None) -> Subject:
    """The customer holding this identity (or with this id); NotFound when nothing is stored."""
    given: tuple[str, ...] = ()
    if not customer_id:
        identity = identity_for(email=email, phone=phone)
        given = (identity,)
        try:
            customer_id = IdentityModel.get(identity, consistent_read=True).customer_id
        except DoesNotExist:
            return Subject(customer_id=erased_customer_id(identity), identities=given, exists=False)
    try:
        customer = CustomerModel.get(customer_id, consistent_read=True)
    except DoesNotExist:
        if given:
            return Subject(customer_id=customer_id, identities=given, exists=False)
        raise NotFound(f"no customer {customer_id}") from None
    held = tuple(sorted(set(customer.identities or ()) | set(given)))
    return Subject(customer_id=customer_id, identities=held, exists=True)
