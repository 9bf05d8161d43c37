"""The composition root: the clients, template store and clock every handler is handed, built once per container."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib import aws
from chalicelib.coldstart import settled
from chalicelib.config import Campaign, Settings, get_campaign, get_settings
from chalicelib.library.csat import link_context
from chalicelib.library.repository import TemplateRepository, repository
from chalicelib.models import bind_models
from chalicelib.render import TemplateStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    """What a handler needs: settings, campaign, clients, the template store and the clock."""

    settings: Settings
    campaign: Campaign
    templates: TemplateStore
    clock: Callable[[], datetime] = field(default=_utcnow)

    # The clients are made on first use (each is one per container, chalicelib.aws): a staff API
    # request that reads only tables never pays for an S3, SES or Step Functions client at cold start.
    @property
    def s3(self) -> S3Client:
        return aws.s3()

    @property
    def ses(self) -> SESClient:
        return aws.ses()

    @property
    def sns(self) -> SNSClient:
        return aws.sns()

    @property
    def sfn(self) -> SFNClient:
        return aws.stepfunctions()

    def make_clients(self) -> None:
        """Make every client now rather than on first use (for a path that will use them all)."""
        aws.s3(), aws.ses(), aws.sns(), aws.stepfunctions()


@settled
def get_runtime() -> Runtime:
    """The runtime without the classifier: what the staff API and the events handler use."""
    settings = get_settings()
    bind_models(settings)
    campaign = get_campaign()
    return Runtime(
        settings=settings,
        campaign=campaign,
        templates=library_store(settings, campaign),
    )


def library_store(settings: Settings, campaign: Campaign, repo: TemplateRepository | None = None) -> TemplateStore:
    """The template store backed by the campaign's templates table, with the rating and live-chat links."""

    def links(context: Mapping[str, Any]) -> dict[str, Any]:
        return link_context(
            context,
            secret=settings.csat_secret,
            base_url=settings.public_url,
            now=_utcnow(),
            valid_for=campaign.csat.link_valid_for,
            enabled=campaign.csat.enabled,
            live_chat_url=campaign.follow_up.live_chat_url,
        )

    return TemplateStore(repo or repository(), campaign.default_language, links=links)
