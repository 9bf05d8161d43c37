"""The physical names of one campaign stack's resources, as `infra/template.yaml` names them."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.config import Settings


@dataclass(frozen=True, slots=True)
class StackNames:
    """Names fixed by campaign, stage, region and account: operator commands find a stack without its outputs."""

    campaign: str
    stage: str
    region: str
    account: str

    @property
    def prefix(self) -> str:
        return f"replydesk-{self.campaign}-{self.stage}"

    def table(self, name: str) -> str:
        """`customers`, `identities`, `conversations`, `messages`, `suppressions`, `idempotency`, `audit`."""
        return f"{self.prefix}-{name}"

    @property
    def raw_bucket(self) -> str:
        return f"{self.prefix}-raw-{self.account}"

    @property
    def analytics_bucket(self) -> str:
        return f"{self.prefix}-analytics-{self.account}"

    def queue(self, name: str) -> str:
        """`intake`, `intake-dlq`, `events`, `events-dlq`."""
        return f"{self.prefix}-{name}"

    def topic_arn(self, name: str) -> str:
        """`inbound-email`, `inbound-sms`, `ses-feedback`, `escalation`."""
        return f"arn:aws:sns:{self.region}:{self.account}:{self.prefix}-{name}"

    @property
    def erasure_key_secret(self) -> str:
        """The Secrets Manager secret keying the erased identities' hashes (chalicelib/gdpr/hashing.py)."""
        return f"{self.prefix}-erasure-key"

    @classmethod
    def from_settings(cls, settings: Settings) -> StackNames:
        # The raw bucket's name ends in the account id (the template appends it for global uniqueness).
        account = settings.raw_bucket.rsplit("-", 1)[-1]
        return cls(campaign=settings.campaign, stage=settings.stage, region=settings.region, account=account)


def bind_models_to(names: StackNames, *, endpoint: str | None, region: str) -> None:
    """Point the PynamoDB models at this stack's tables (operator commands, which have no Settings)."""
    from pynamodb.models import Model

    from chalicelib import models

    tables: dict[type[Model], str] = {
        models.CustomerModel: names.table("customers"),
        models.IdentityModel: names.table("identities"),
        models.ConversationModel: names.table("conversations"),
        models.MessageModel: names.table("messages"),
        models.SuppressionModel: names.table("suppressions"),
        models.SearchTokenModel: names.table("search"),
    }
    for model, table in tables.items():
        meta = model.Meta
        meta.table_name = table
        meta.host = endpoint
        meta.region = region
        model._connection = None  # PynamoDB caches its connection per model
    from chalicelib.gdpr.audit import bind_audit

    bind_audit(names.table("audit"), endpoint=endpoint, region=region)
    _bind_erasure_key(names, endpoint=endpoint, region=region)


def _bind_erasure_key(names: StackNames, *, endpoint: str | None, region: str) -> None:
    """Erased identities are hashed with the stack's key: read from its secret when first needed."""
    import functools

    import boto3

    from chalicelib.gdpr.hashing import bind_key_source, read_key

    @functools.cache
    def source() -> bytes:
        client = boto3.session.Session().client("secretsmanager", region_name=region, endpoint_url=endpoint)
        return read_key(client, names.erasure_key_secret)

    bind_key_source(source)
