"""The composition root: the clients, template store and clock every handler is handed, built once per container."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib import aws
from chalicelib.config import Campaign, Settings, get_campaign, get_settings
from chalicelib.models import bind_models
from chalicelib.render import S3Loader, TemplateStore

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
    s3: S3Client
    ses: SESClient
    sns: SNSClient
    sfn: SFNClient
    templates: TemplateStore
    clock: Callable[[], datetime] = field(default=_utcnow)


@functools.cache
def get_runtime() -> Runtime:
    """The runtime without the classifier: what the staff API and the events handler use."""
    settings = get_settings()
    bind_models(settings)
    campaign = get_campaign()
    return Runtime(
        settings=settings,
        campaign=campaign,
        s3=aws.s3(),
        ses=aws.ses(),
        sns=aws.sns(),
        sfn=aws.stepfunctions(),
        templates=TemplateStore(S3Loader(aws.s3(), settings.template_bucket), campaign.default_language),
    )
