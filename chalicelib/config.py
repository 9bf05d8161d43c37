"""Stage settings from the environment and the campaign file, both validated once at cold start."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from chalicelib.errors import ConfigError

# Environment variable names: one place, so the template, .chalice/config.json and local/ agree.
ENV_CAMPAIGN = "REPLYDESK_CAMPAIGN"
ENV_STAGE = "REPLYDESK_STAGE"
ENV_REGION = "AWS_REGION"
ENV_ENDPOINT = "AWS_ENDPOINT_URL"
ENV_RAW_BUCKET = "RAW_BUCKET"
ENV_TEMPLATE_BUCKET = "TEMPLATE_BUCKET"
ENV_INTAKE_QUEUE_URL = "INTAKE_QUEUE_URL"
ENV_INTAKE_DLQ_URL = "INTAKE_DLQ_URL"
ENV_EVENTS_QUEUE_URL = "EVENTS_QUEUE_URL"
ENV_CUSTOMERS_TABLE = "CUSTOMERS_TABLE"
ENV_IDENTITIES_TABLE = "IDENTITIES_TABLE"
ENV_CONVERSATIONS_TABLE = "CONVERSATIONS_TABLE"
ENV_MESSAGES_TABLE = "MESSAGES_TABLE"
ENV_SUPPRESSIONS_TABLE = "SUPPRESSIONS_TABLE"
ENV_IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
ENV_OUTBOX_TABLE = "OUTBOX_TABLE"
ENV_RATE_LIMITS_TABLE = "RATE_LIMITS_TABLE"
ENV_INBOUND_EMAIL_TOPIC_ARN = "INBOUND_EMAIL_TOPIC_ARN"
ENV_INBOUND_SMS_TOPIC_ARN = "INBOUND_SMS_TOPIC_ARN"
ENV_SES_FEEDBACK_TOPIC_ARN = "SES_FEEDBACK_TOPIC_ARN"
ENV_ESCALATION_TOPIC_ARN = "ESCALATION_TOPIC_ARN"
ENV_SLA_STATE_MACHINE_ARN = "SLA_STATE_MACHINE_ARN"
ENV_FOLLOWUP_STATE_MACHINE_ARN = "FOLLOWUP_STATE_MACHINE_ARN"
ENV_PRESENCE_TABLE = "PRESENCE_TABLE"
ENV_SEARCH_TABLE = "SEARCH_TABLE"
ENV_COGNITO_USER_POOL_ID = "COGNITO_USER_POOL_ID"
ENV_COGNITO_CLIENT_ID = "COGNITO_CLIENT_ID"
ENV_COGNITO_ISSUER = "COGNITO_ISSUER"
ENV_COGNITO_JWKS_URL = "COGNITO_JWKS_URL"
ENV_TEMPLATES_TABLE = "TEMPLATES_TABLE"
ENV_CSAT_SECRET = "CSAT_SECRET"  # noqa: S105 - the variable's name, not a secret
ENV_PUBLIC_URL = "PUBLIC_URL"
# The stack's Secrets Manager secret (name or ARN) that keys the erased identities' hashes (chalicelib/gdpr).
ENV_ERASURE_KEY_SECRET = "ERASURE_KEY_SECRET"  # noqa: S105 - the variable's name, not a secret

_REQUIRED = {
    "raw_bucket": ENV_RAW_BUCKET,
    "template_bucket": ENV_TEMPLATE_BUCKET,
    "intake_queue_url": ENV_INTAKE_QUEUE_URL,
    "intake_dlq_url": ENV_INTAKE_DLQ_URL,
    "events_queue_url": ENV_EVENTS_QUEUE_URL,
    "customers_table": ENV_CUSTOMERS_TABLE,
    "identities_table": ENV_IDENTITIES_TABLE,
    "conversations_table": ENV_CONVERSATIONS_TABLE,
    "messages_table": ENV_MESSAGES_TABLE,
    "suppressions_table": ENV_SUPPRESSIONS_TABLE,
    "idempotency_table": ENV_IDEMPOTENCY_TABLE,
    "outbox_table": ENV_OUTBOX_TABLE,
    "rate_limits_table": ENV_RATE_LIMITS_TABLE,
    "inbound_email_topic_arn": ENV_INBOUND_EMAIL_TOPIC_ARN,
    "inbound_sms_topic_arn": ENV_INBOUND_SMS_TOPIC_ARN,
    "ses_feedback_topic_arn": ENV_SES_FEEDBACK_TOPIC_ARN,
    "escalation_topic_arn": ENV_ESCALATION_TOPIC_ARN,
    "sla_state_machine_arn": ENV_SLA_STATE_MACHINE_ARN,
    "followup_state_machine_arn": ENV_FOLLOWUP_STATE_MACHINE_ARN,
    "presence_table": ENV_PRESENCE_TABLE,
    "search_table": ENV_SEARCH_TABLE,
    "cognito_user_pool_id": ENV_COGNITO_USER_POOL_ID,
    "cognito_client_id": ENV_COGNITO_CLIENT_ID,
    "cognito_issuer": ENV_COGNITO_ISSUER,
    "cognito_jwks_url": ENV_COGNITO_JWKS_URL,
    "templates_table": ENV_TEMPLATES_TABLE,
    "csat_secret": ENV_CSAT_SECRET,
}

CAMPAIGN_DIR = Path(__file__).parent / "campaigns"
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")


@dataclass(frozen=True, slots=True)
class DeployNames:
    """Names fixed by campaign and stage alone; Chalice needs the queue names when app.py is imported."""

    campaign: str
    stage: str

    @property
    def prefix(self) -> str:
        return f"replydesk-{self.campaign}-{self.stage}"

    @property
    def intake_queue(self) -> str:
        return f"{self.prefix}-intake"

    @property
    def intake_dlq(self) -> str:
        return f"{self.prefix}-intake-dlq"

    @property
    def events_queue(self) -> str:
        return f"{self.prefix}-events"


def deploy_names(environ: Mapping[str, str] | None = None) -> DeployNames:
    """Campaign and stage from the environment; both are required everywhere, packaging included."""
    env = os.environ if environ is None else environ
    problems = []
    campaign = env.get(ENV_CAMPAIGN, "")
    stage = env.get(ENV_STAGE, "")
    if not _NAME_RE.match(campaign):
        problems.append(f"{ENV_CAMPAIGN} must be a lower-case name like 'demo', got {campaign!r}")
    if not _NAME_RE.match(stage):
        problems.append(f"{ENV_STAGE} must be a lower-case name like 'dev', got {stage!r}")
    if problems:
        raise ConfigError("environment", problems)
    return DeployNames(campaign=campaign, stage=stage)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a handler needs to find its AWS resources, built once per container."""

    campaign: str
    stage: str
    region: str
    endpoint_url: str | None
    raw_bucket: str
    template_bucket: str
    intake_queue_url: str
    intake_dlq_url: str
    events_queue_url: str
    customers_table: str
    identities_table: str
    conversations_table: str
    messages_table: str
    suppressions_table: str
    idempotency_table: str
    outbox_table: str
    rate_limits_table: str
    inbound_email_topic_arn: str
    inbound_sms_topic_arn: str
    ses_feedback_topic_arn: str
    escalation_topic_arn: str
    sla_state_machine_arn: str
    followup_state_machine_arn: str
    presence_table: str
    search_table: str
    # The staff pool: tokens are verified in our code against these (chalicelib/auth).
    cognito_user_pool_id: str
    cognito_client_id: str
    cognito_issuer: str
    cognito_jwks_url: str
    templates_table: str
    csat_secret: str = field(repr=False)  # signs the one-click rating links
    public_url: str | None = None  # where customers reach the stack's public routes (rating links)
    # Keys the erased identities' hashes; only erasure and the erased-suppression check need it.
    erasure_key_secret: str | None = None


def load_settings(environ: Mapping[str, str] | None = None, **overrides: str) -> Settings:
    """Build Settings; an explicit override beats the environment; every bad variable is named at once."""
    env = dict(os.environ if environ is None else environ)
    env.update({k.upper(): v for k, v in overrides.items()})
    problems: list[str] = []
    try:
        names = deploy_names(env)
    except ConfigError as exc:
        problems.extend(exc.problems)
        names = DeployNames("invalid", "invalid")
    region = env.get(ENV_REGION) or env.get("AWS_DEFAULT_REGION") or ""
    if not region:
        problems.append(f"{ENV_REGION} is not set")
    endpoint = env.get(ENV_ENDPOINT) or None
    if endpoint is not None and not re.match(r"^https?://", endpoint):
        problems.append(f"{ENV_ENDPOINT} must be an http(s) URL, got {endpoint!r}")
    values: dict[str, str] = {}
    for attr, var in _REQUIRED.items():
        value = env.get(var, "").strip()
        if not value:
            problems.append(f"{var} is not set")
        values[attr] = value
    for attr in ("intake_queue_url", "intake_dlq_url", "events_queue_url"):
        if values[attr] and not values[attr].startswith("http"):
            problems.append(f"{_REQUIRED[attr]} must be a queue URL, got {values[attr]!r}")
    for attr, var in _REQUIRED.items():
        if attr.endswith("_arn") and values[attr] and not values[attr].startswith("arn:"):
            problems.append(f"{var} must be an ARN, got {values[attr]!r}")
    pool = values["cognito_user_pool_id"]
    if pool and not re.match(r"^[\w-]+_[0-9A-Za-z]+$", pool):
        problems.append(f"{ENV_COGNITO_USER_POOL_ID} must be a user pool id like 'eu-west-1_AbC123', got {pool!r}")
    for attr in ("cognito_issuer", "cognito_jwks_url"):
        if values[attr] and not re.match(r"^https?://", values[attr]):
            problems.append(f"{_REQUIRED[attr]} must be an http(s) URL, got {values[attr]!r}")
    if pool and values["cognito_issuer"] and not values["cognito_issuer"].rstrip("/").endswith("/" + pool):
        # Cognito's `iss` is <provider URL>/<pool id>; anything else would reject every token.
        problems.append(f"{ENV_COGNITO_ISSUER} must end with the user pool id {pool!r}")
    if values["csat_secret"] and len(values["csat_secret"]) < 32:
        problems.append(f"{ENV_CSAT_SECRET} must be at least 32 characters")
    public_url = env.get(ENV_PUBLIC_URL, "").strip().rstrip("/") or None
    if public_url is not None and not re.match(r"^https?://", public_url):
        problems.append(f"{ENV_PUBLIC_URL} must be an http(s) URL, got {public_url!r}")
    if problems:
        raise ConfigError("environment", problems)
    return Settings(
        campaign=names.campaign,
        stage=names.stage,
        region=region,
        endpoint_url=endpoint,
        public_url=public_url,
        erasure_key_secret=env.get(ENV_ERASURE_KEY_SECRET, "").strip() or None,
        **values,
    )


@functools.cache
def get_settings() -> Settings:
    """The container's Settings, built on first use (cold start) and cached."""
    return load_settings()


@functools.cache
def get_campaign() -> Campaign:
    """The container's campaign, loaded from the packaged campaign file on first use."""
    return load_campaign(get_settings().campaign)


# --------------------------------------------------------------------------------------------
# Campaign file


DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
URGENCIES = ("low", "normal", "high", "urgent")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = ("email", "sms", "web")
_EMAIL_RE = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_LANG_RE = re.compile(r"^[a-z]{2}$")
_VERDICTS = ("PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED")


@dataclass(frozen=True, slots=True)
class Topic:
    """`label` is the default language's; `labels` holds it per language (the contact page's choice)."""

    id: str
    label: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def label_for(self, language: str | None) -> str:
        """The label in `language`, else the default language's."""
        return self.labels.get(language or "", "") or self.label


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Targets per urgency, in business time."""

    first_response: Mapping[str, timedelta]
    resolution: Mapping[str, timedelta]


@dataclass(frozen=True, slots=True)
class Queue:
    id: str
    label: str
    sla: SlaPolicy
    escalation_queue: str | None = None
    escalate_again_after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """First matching rule wins; an empty criterion matches everything."""

    queue: str
    topics: tuple[str, ...] = ()
    urgencies: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: str
    weekly: Mapping[str, tuple[tuple[time, time], ...]]
    holidays: frozenset[date]
    always_open: bool = False


@dataclass(frozen=True, slots=True)
class RateLimit:
    max_acks: int
    per: timedelta


# Local parts of addresses that never read their mail; Zammad's send_no_auto_response_reg_exp
# ((mailer-daemon|postmaster|abuse|root|noreply|noreply.+?|no-reply|no-reply.+?)@) is the reference,
# with the spellings of "do not reply" and bounce handlers added. Each is a full-match regex.
DEFAULT_AUTOMATED_SENDERS = (
    r"no[-_.]?reply([-_.+].*|\d*)",
    r"do[-_.]?not[-_.]?reply([-_.+].*)?",
    r"dont[-_.]?reply([-_.+].*)?",
    r"mailer[-_.]?daemon([-_.+=].*)?",
    r"postmaster([-_.+=].*)?",
    r"abuse",
    r"root",
    r"bounces?(\+.*)?",  # VERP return addresses (bounces+token@)
)


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """Campaign knobs of the no-ack checks."""

    automated_senders: tuple[str, ...] = DEFAULT_AUTOMATED_SENDERS


@dataclass(frozen=True, slots=True)
class WebFormLimits:
    """Submissions the contact form takes per client IP and per email address in a window."""

    per_ip: RateLimit = RateLimit(max_acks=20, per=timedelta(hours=1))
    per_address: RateLimit = RateLimit(max_acks=5, per=timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    """SES receipt verdicts that make a sender count as forged (no ack)."""

    reject_spf: tuple[str, ...] = ("FAIL",)
    reject_dkim: tuple[str, ...] = ("FAIL",)
    reject_dmarc: tuple[str, ...] = ("FAIL",)
    reject_spam: tuple[str, ...] = ("FAIL",)
    reject_virus: tuple[str, ...] = ("FAIL",)


@dataclass(frozen=True, slots=True)
class FollowUp:
    delay: timedelta
    resolve_after: timedelta
    offer: str | None = None
    # Offered in the follow-up only when the campaign really has one (https URL).
    live_chat_url: str | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    """A retention offer of the campaign's playbook: what staff may give a customer who wants to return something."""

    id: str
    label: str
    gives: str
    template: str  # the library template staff send it with
    topics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    min_order_value: float | None = None
    expires: date | None = None
    per_customer_limit: int = 1


@dataclass(frozen=True, slots=True)
class Csat:
    """The one-click satisfaction rating in the follow-up: a signed link per conversation, valid once."""

    enabled: bool = True
    link_valid_for: timedelta = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SmsSettings:
    number: str
    help_text: str
    segment_budget: int = 2
    opt_out_keywords: tuple[str, ...] = ()
    opt_in_keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Alarms:
    """Thresholds of the campaign's alarms (infra/template.yaml takes them as parameters)."""

    ack_latency_p95: timedelta = timedelta(seconds=30)
    sla_miss_rate: float = 0.2  # share of SLA outcomes missed over an hour


class ClosingMail(StrEnum):
    """What mail to a closed campaign gets: the closing message as a final auto-reply, or an SMTP bounce."""

    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


@dataclass(frozen=True, slots=True)
class Closing:
    """A retired campaign (`closing.closed`): the form shows the message, mail and SMS get it as the ack.

    `messages` is the closing message per language; `message` is the default language's.
    """

    closed: bool = False
    message: str = ""
    next_url: str | None = None  # where customers go instead (shown on the contact page and in acks)
    messages: Mapping[str, str] = field(default_factory=dict)
    mail: ClosingMail = ClosingMail.AUTO_REPLY

    def message_for(self, language: str | None) -> str:
        """The closing message in `language`, else the default language's."""
        return self.messages.get(language or "", "") or self.message


@dataclass(frozen=True, slots=True)
class Campaign:
    """One stack's configuration; frozen, validated when loaded."""

    name: str
    brand: str
    sender_email: str
    sender_name: str
    inbound_domain: str
    inbound_addresses: tuple[str, ...]
    message_id_domain: str
    sms: SmsSettings
    languages: tuple[str, ...]
    topics: tuple[Topic, ...]
    queues: Mapping[str, Queue]
    routing: tuple[RoutingRule, ...]
    default_queue: str
    business_hours: BusinessHours
    ack_rate_limit: RateLimit
    sender_policy: SenderPolicy
    follow_up: FollowUp
    reopen_window: timedelta
    retention_days: int
    reference_prefix: str = "RD"
    faq: Mapping[str, str] = field(default_factory=dict)
    # The analytics export carries message bodies only when the campaign opts in (DESIGN §7).
    analytics_include_bodies: bool = False
    guard: GuardSettings = GuardSettings()
    web_form: WebFormLimits = WebFormLimits()
    offers: tuple[Offer, ...] = ()
    csat: Csat = field(default_factory=Csat)
    alarms: Alarms = field(default_factory=Alarms)
    closing: Closing = field(default_factory=Closing)

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def topic_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    def topic_label(self, topic_id: str | None, language: str | None = None) -> str:
        """A topic's label in `language` (else the default language's); "" for an unknown topic."""
        return next((t.label_for(language) for t in self.topics if t.id == topic_id), "")


def parse_duration(value: Any) -> timedelta:
    """'90s', '5m', '2h', '3d' -> timedelta; raises ValueError with the bad value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    m = DURATION_RE.match(str(value))
    if not m:
        raise ValueError(f"not a duration like '90s', '5m', '2h' or '3d': {value!r}")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


class _Checker:
    """Collects every problem with its field path, so one run names all of them."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def get(
        self,
        data: Any,
        key: str,
        path: str,
        kind: type | tuple[type, ...],
        *,
        required: bool = True,
        default: Any = None,
    ) -> Any:
        if not isinstance(data, dict):
            self.fail(path, "must be a mapping")
            return default
        full = f"{path}.{key}" if path else key
        if key not in data or data[key] is None:
            if required:
                self.fail(full, "is required")
            return default
        value = data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(full, f"must be {names}, got {type(value).__name__}")
            return default
        return value

    def duration(self, value: Any, path: str) -> timedelta:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(path, str(exc))
            return timedelta(0)

    def strings(self, data: Any, key: str, path: str, *, required: bool = False) -> tuple[str, ...]:
        value = self.get(data, key, path, list, required=required, default=[])
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{path}.{key}[{i}]", "must be a non-empty string")
            else:
                out.append(item)
        return tuple(out)


def _parse_hours(spec: Any, path: str, chk: _Checker) -> tuple[tuple[time, time], ...]:
    if spec in (None, "", "closed"):
        return ()
    ranges = []
    for part in str(spec).split(","):
        m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", part)
        if not m:
            chk.fail(path, f"must look like '09:00-17:00' or 'closed', got {spec!r}")
            return ()
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h2 == 24 and m2 == 0:
            h2, m2 = 23, 59
        if not (0 <= h1 < 24 and 0 <= h2 < 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
            chk.fail(path, f"invalid time range {part.strip()!r}")
            return ()
        ranges.append((time(h1, m1), time(h2, m2)))
    return tuple(sorted(ranges))


def _sla_table(data: Any, path: str, chk: _Checker) -> dict[str, timedelta]:
    if not isinstance(data, dict):
        chk.fail(path, "must map each urgency (low, normal, high, urgent) to a duration")
        return {}
    out = {}
    for urgency in URGENCIES:
        if urgency not in data:
            chk.fail(f"{path}.{urgency}", "is required")
        else:
            out[urgency] = chk.duration(data[urgency], f"{path}.{urgency}")
    for extra in set(data) - set(URGENCIES):
        chk.fail(f"{path}.{extra}", f"unknown urgency; use one of {', '.join(URGENCIES)}")
    return out


def parse_campaign(data: Any, source: str = "campaign") -> Campaign:
    """Validate a campaign mapping (as read from YAML) into a frozen Campaign."""
    chk = _Checker()
    if not isinstance(data, dict):
        raise ConfigError(source, ["the file must hold a mapping at the top level"])
    name = chk.get(data, "name", "", str, default="")
    if name and not _NAME_RE.match(name):
        chk.fail("name", f"must be a lower-case name like 'demo', got {name!r}")
    brand = chk.get(data, "brand", "", str, default="")

    sender = chk.get(data, "sender", "", dict, default={})
    sender_email = chk.get(sender, "email", "sender", str, default="")
    if sender_email and not _EMAIL_RE.match(sender_email):
        chk.fail("sender.email", f"is not an email address: {sender_email!r}")
    sender_name = chk.get(sender, "name", "sender", str, required=False, default=brand)

    inbound = chk.get(data, "inbound", "", dict, default={})
    domain = chk.get(inbound, "domain", "inbound", str, default="")
    addresses = chk.strings(inbound, "addresses", "inbound", required=True)
    for i, addr in enumerate(addresses):
        if not _EMAIL_RE.match(addr):
            chk.fail(f"inbound.addresses[{i}]", f"is not an email address: {addr!r}")
        elif domain and not addr.lower().endswith("@" + domain.lower()):
            chk.fail(f"inbound.addresses[{i}]", f"must be in the inbound domain {domain!r}")
    message_id_domain = chk.get(inbound, "message_id_domain", "inbound", str, required=False, default=domain)

    sms_data = chk.get(data, "sms", "", dict, default={})
    number = chk.get(sms_data, "number", "sms", str, default="")
    if number and not _E164_RE.match(number):
        chk.fail("sms.number", f"must be E.164 like '+15550100100', got {number!r}")
    budget = chk.get(sms_data, "segment_budget", "sms", int, required=False, default=2)
    if not 1 <= budget <= 10:
        chk.fail("sms.segment_budget", "must be between 1 and 10")
    sms = SmsSettings(
        number=number,
        help_text=chk.get(sms_data, "help_text", "sms", str, default=""),
        segment_budget=budget,
        opt_out_keywords=tuple(k.upper() for k in chk.strings(sms_data, "opt_out_keywords", "sms")),
        opt_in_keywords=tuple(k.upper() for k in chk.strings(sms_data, "opt_in_keywords", "sms")),
    )

    languages = chk.strings(data, "languages", "", required=True)
    for i, lang in enumerate(languages):
        if not _LANG_RE.match(lang):
            chk.fail(f"languages[{i}]", f"must be an ISO 639-1 code like 'en', got {lang!r}")
    if not languages:
        chk.fail("languages", "needs at least one language (the default first)")

    topics = []
    for i, t in enumerate(chk.get(data, "topics", "", list, default=[])):
        p = f"topics[{i}]"
        tid = chk.get(t, "id", p, str, default="")
        raw_label = t.get("label", "") if isinstance(t, dict) else ""
        labels = _per_language(raw_label, f"{p}.label", chk, languages)
        if isinstance(raw_label, dict) and languages and languages[0] not in raw_label:
            chk.fail(f"{p}.label.{languages[0]}", "is required when the label is given per language")
        topics.append(
            Topic(
                id=tid,
                label=labels.get(languages[0] if languages else "", "") or tid,
                keywords=chk.strings(t, "keywords", p),
                examples=chk.strings(t, "examples", p),
                labels=labels,
            )
        )
    topic_ids = [t.id for t in topics]
    for dup in {t for t in topic_ids if topic_ids.count(t) > 1}:
        chk.fail("topics", f"topic id {dup!r} appears twice")

    queues: dict[str, Queue] = {}
    raw_queues = chk.get(data, "queues", "", list, default=[])
    for i, q in enumerate(raw_queues):
        p = f"queues[{i}]"
        qid = chk.get(q, "id", p, str, default="")
        sla = chk.get(q, "sla", p, dict, default={})
        again = chk.get(q, "escalate_again_after", p, (str, int), required=False)
        if qid in queues:
            chk.fail(p, f"queue id {qid!r} appears twice")
        queues[qid] = Queue(
            id=qid,
            label=chk.get(q, "label", p, str, required=False, default=qid),
            sla=SlaPolicy(
                first_response=_sla_table(
                    sla.get("first_response") if isinstance(sla, dict) else None, f"{p}.sla.first_response", chk
                ),
                resolution=_sla_table(
                    sla.get("resolution") if isinstance(sla, dict) else None, f"{p}.sla.resolution", chk
                ),
            ),
            escalation_queue=chk.get(q, "escalation_queue", p, str, required=False),
            escalate_again_after=chk.duration(again, f"{p}.escalate_again_after") if again else None,
        )
    if not queues:
        chk.fail("queues", "needs at least one queue")
    for qid, q in queues.items():
        if q.escalation_queue and q.escalation_queue not in queues:
            chk.fail(f"queues[{qid}].escalation_queue", f"names unknown queue {q.escalation_queue!r}")

    routing_data = chk.get(data, "routing", "", dict, default={})
    default_queue = chk.get(routing_data, "default_queue", "routing", str, default="")
    if default_queue and default_queue not in queues:
        chk.fail("routing.default_queue", f"names unknown queue {default_queue!r}")
    rules = []
    for i, r in enumerate(chk.get(routing_data, "rules", "routing", list, required=False, default=[])):
        p = f"routing.rules[{i}]"
        when = chk.get(r, "when", p, dict, required=False, default={})
        rule = RoutingRule(
            queue=chk.get(r, "queue", p, str, default=""),
            topics=chk.strings(when, "topic", f"{p}.when"),
            urgencies=chk.strings(when, "urgency", f"{p}.when"),
            languages=chk.strings(when, "language", f"{p}.when"),
            channels=chk.strings(when, "channel", f"{p}.when"),
            tags=chk.strings(when, "tag", f"{p}.when"),
        )
        if rule.queue and rule.queue not in queues:
            chk.fail(f"{p}.queue", f"names unknown queue {rule.queue!r}")
        for t in rule.topics:
            if t not in topic_ids and t != "unknown":
                chk.fail(f"{p}.when.topic", f"names unknown topic {t!r}")
        for u in rule.urgencies:
            if u not in URGENCIES:
                chk.fail(f"{p}.when.urgency", f"must be one of {', '.join(URGENCIES)}, got {u!r}")
        for c in rule.channels:
            if c not in CHANNELS:
                chk.fail(f"{p}.when.channel", f"must be one of {', '.join(CHANNELS)}, got {c!r}")
        rules.append(rule)

    bh = chk.get(data, "business_hours", "", dict, default={})
    tz = chk.get(bh, "timezone", "business_hours", str, default="UTC")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(tz)
    except Exception:  # noqa: BLE001 - any failure means the name is unusable
        chk.fail("business_hours.timezone", f"unknown time zone {tz!r}")
    weekly_data = chk.get(bh, "weekly", "business_hours", dict, required=False, default={})
    for day in set(weekly_data) - set(WEEKDAYS):
        chk.fail(f"business_hours.weekly.{day}", f"unknown day; use {', '.join(WEEKDAYS)}")
    weekly = {d: _parse_hours(weekly_data.get(d), f"business_hours.weekly.{d}", chk) for d in WEEKDAYS}
    holidays = set()
    for i, h in enumerate(chk.get(bh, "holidays", "business_hours", list, required=False, default=[])):
        if isinstance(h, date):
            holidays.add(h)
        else:
            try:
                holidays.add(date.fromisoformat(str(h)))
            except ValueError:
                chk.fail(f"business_hours.holidays[{i}]", f"must be a date like 2026-12-25, got {h!r}")
    always_open = bool(bh.get("always_open", False)) if isinstance(bh, dict) else False
    if not always_open and not any(weekly.values()):
        chk.fail("business_hours.weekly", "no open hours on any day (set always_open: true for 24/7)")

    ack = chk.get(data, "ack", "", dict, required=False, default={})
    rl = chk.get(ack, "rate_limit", "ack", dict, required=False, default={"max": 3, "per": "24h"})
    max_acks = chk.get(rl, "max", "ack.rate_limit", int, default=3)
    if max_acks < 1:
        chk.fail("ack.rate_limit.max", "must be at least 1")
    rate = RateLimit(max_acks=max_acks, per=chk.duration(rl.get("per", "24h"), "ack.rate_limit.per"))

    sp = chk.get(data, "sender_policy", "", dict, required=False, default={})
    policy_args = {}
    for key in ("spf", "dkim", "dmarc", "spam", "virus"):
        verdicts = chk.strings(sp, f"reject_{key}", "sender_policy") if f"reject_{key}" in sp else ("FAIL",)
        for v in verdicts:
            if v not in _VERDICTS:
                chk.fail(f"sender_policy.reject_{key}", f"unknown SES verdict {v!r}")
        policy_args[f"reject_{key}"] = tuple(verdicts)

    fu = chk.get(data, "follow_up", "", dict, required=False, default={})
    live_chat = chk.get(fu, "live_chat_url", "follow_up", str, required=False)
    if live_chat is not None and not re.match(r"^https://[^\s]+$", live_chat):
        chk.fail("follow_up.live_chat_url", f"must be an https URL, got {live_chat!r}")
    follow_up = FollowUp(
        delay=chk.duration(fu.get("delay", "2d"), "follow_up.delay"),
        resolve_after=chk.duration(fu.get("resolve_after", "5d"), "follow_up.resolve_after"),
        offer=chk.get(fu, "offer", "follow_up", str, required=False),
        live_chat_url=live_chat,
    )
    offers = _parse_offers(chk.get(data, "offers", "", list, required=False, default=[]), topic_ids, chk)
    cs = chk.get(data, "csat", "", dict, required=False, default={})
    csat = Csat(
        enabled=bool(chk.get(cs, "enabled", "csat", bool, required=False, default=True)),
        link_valid_for=chk.duration(cs.get("link_valid_for", "30d"), "csat.link_valid_for"),
    )
    retention = chk.get(data, "retention_days", "", int, required=False, default=365)
    if retention < 1:
        chk.fail("retention_days", "must be at least 1")
    prefix = chk.get(data, "reference_prefix", "", str, required=False, default="RD")
    if not re.match(r"^[A-Z]{2,4}$", prefix):
        chk.fail("reference_prefix", f"must be 2-4 capital letters, got {prefix!r}")
    analytics = chk.get(data, "analytics", "", dict, required=False, default={})
    include_bodies = chk.get(analytics, "include_bodies", "analytics", bool, required=False, default=False)
    faq = chk.get(data, "faq", "", dict, required=False, default={})
    for key in faq:
        if key not in topic_ids:
            chk.fail(f"faq.{key}", "names an unknown topic")

    guard = _guard_settings(data, chk)
    web_form = _web_form_limits(data, chk)
    alarms = _parse_alarms(data, chk)
    closing = _parse_closing(data, chk, tuple(languages))

    if chk.problems:
        raise ConfigError(source, chk.problems)
    return Campaign(
        name=name,
        brand=brand,
        sender_email=sender_email,
        sender_name=sender_name,
        inbound_domain=domain.lower(),
        inbound_addresses=tuple(a.lower() for a in addresses),
        message_id_domain=message_id_domain.lower(),
        sms=sms,
        languages=languages,
        topics=tuple(topics),
        queues=queues,
        routing=tuple(rules),
        default_queue=default_queue,
        business_hours=BusinessHours(timezone=tz, weekly=weekly, holidays=frozenset(holidays), always_open=always_open),
        ack_rate_limit=rate,
        sender_policy=SenderPolicy(**policy_args),
        follow_up=follow_up,
        reopen_window=chk_duration_default(data, "reopen_window", "7d"),
        retention_days=retention,
        reference_prefix=prefix,
        faq={str(k): str(v) for k, v in faq.items()},
        analytics_include_bodies=bool(include_bodies),
        guard=guard,
        web_form=web_form,
        offers=offers,
        csat=csat,
        alarms=alarms,
        closing=closing,
    )


def _per_language(raw: Any, where: str, chk: _Checker, languages: tuple[str, ...]) -> dict[str, str]:
    """A text in the default language, or a mapping of campaign language to text: {language: text}."""
    default = languages[0] if languages else ""
    out: dict[str, str] = {}
    if isinstance(raw, str):
        # A plain string is the default language's (the other languages then lack one).
        if raw.strip():
            out[default] = raw.strip()
    elif isinstance(raw, dict):
        for lang, text in raw.items():
            if lang not in languages:
                chk.fail(f"{where}.{lang}", f"is not one of the campaign's languages ({', '.join(languages)})")
            elif not isinstance(text, str) or not text.strip():
                chk.fail(f"{where}.{lang}", "must be a non-empty text")
            else:
                out[str(lang)] = text.strip()
    else:
        chk.fail(where, "must be a text or a mapping of language to text")
    return out


def _parse_closing(data: Mapping[str, Any], chk: _Checker, languages: tuple[str, ...]) -> Closing:
    spec = chk.get(data, "closing", "", dict, required=False, default={})
    closed = chk.get(spec, "closed", "closing", bool, required=False, default=False)
    default = languages[0] if languages else ""
    messages = _per_language(spec.get("message", ""), "closing.message", chk, languages)
    message = messages.get(default, "")
    next_url = chk.get(spec, "next_url", "closing", str, required=False)
    if closed and not message:
        where = "closing.message" if not messages else f"closing.message.{default}"
        chk.fail(where, f"is required when closing.closed is true (customers are told it; default language {default})")
    if next_url is not None and not re.match(r"^https://[^\s]+$", next_url):
        chk.fail("closing.next_url", f"must be an https URL, got {next_url!r}")
    mail = chk.get(spec, "mail", "closing", str, required=False, default=ClosingMail.AUTO_REPLY.value)
    if mail not in tuple(ClosingMail):
        chk.fail("closing.mail", f"must be one of {', '.join(ClosingMail)}, got {mail!r}")
        mail = ClosingMail.AUTO_REPLY.value
    return Closing(closed=bool(closed), message=message, next_url=next_url, messages=messages, mail=ClosingMail(mail))


def _guard_settings(data: Mapping[str, Any], chk: _Checker) -> GuardSettings:
    section = chk.get(data, "guard", "", dict, required=False, default={})
    if "automated_senders" not in section:
        return GuardSettings()
    patterns = chk.strings(section, "automated_senders", "guard")
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            chk.fail(f"guard.automated_senders[{i}]", f"is not a regular expression ({exc})")
    return GuardSettings(automated_senders=tuple(patterns))


def _web_form_limits(data: Mapping[str, Any], chk: _Checker) -> WebFormLimits:
    section = chk.get(data, "web_form", "", dict, required=False, default={})
    defaults = WebFormLimits()
    limits = {}
    for key in ("per_ip", "per_address"):
        default: RateLimit = getattr(defaults, key)
        rl = chk.get(section, key, "web_form", dict, required=False, default={})
        maximum = chk.get(rl, "max", f"web_form.{key}", int, required=False, default=default.max_acks)
        if maximum < 1:
            chk.fail(f"web_form.{key}.max", "must be at least 1")
        per = chk.duration(rl["per"], f"web_form.{key}.per") if "per" in rl else default.per
        limits[key] = RateLimit(max_acks=maximum, per=per)
    return WebFormLimits(**limits)


_OFFER_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{1,40}$")


def _parse_offers(raw: list[Any], topic_ids: list[str], chk: _Checker) -> tuple[Offer, ...]:
    offers: list[Offer] = []
    for i, o in enumerate(raw):
        p = f"offers[{i}]"
        oid = chk.get(o, "id", p, str, default="")
        if oid and not _OFFER_ID_RE.match(oid):
            chk.fail(f"{p}.id", f"must be a lower-case name like 'keep_15', got {oid!r}")
        if oid in {x.id for x in offers}:
            chk.fail(f"{p}.id", f"offer id {oid!r} appears twice")
        template = chk.get(o, "template", p, str, default="")
        if template and not re.match(r"^[a-z0-9][a-z0-9_-]*\.(email|sms)$", template):
            chk.fail(f"{p}.template", f"must name a library template like 'retention-discount.email', got {template!r}")
        when = chk.get(o, "when", p, dict, required=False, default={})
        topics = chk.strings(when, "topics", f"{p}.when")
        for t in topics:
            if t not in topic_ids:
                chk.fail(f"{p}.when.topics", f"names unknown topic {t!r}")
        min_value = chk.get(when, "min_order_value", f"{p}.when", (int, float), required=False)
        if min_value is not None and min_value < 0:
            chk.fail(f"{p}.when.min_order_value", "must not be negative")
        expires_raw = chk.get(o, "expires", p, (date, str), required=False)
        expires = None
        if isinstance(expires_raw, date):
            expires = expires_raw
        elif isinstance(expires_raw, str):
            try:
                expires = date.fromisoformat(expires_raw)
            except ValueError:
                chk.fail(f"{p}.expires", f"must be a date like 2027-03-31, got {expires_raw!r}")
        limit = chk.get(o, "per_customer_limit", p, int, required=False, default=1)
        if limit < 1:
            chk.fail(f"{p}.per_customer_limit", "must be at least 1")
        offers.append(
            Offer(
                id=oid,
                label=chk.get(o, "label", p, str, default=oid),
                gives=chk.get(o, "gives", p, str, default=""),
                template=template,
                topics=topics,
                tags=chk.strings(when, "tags", f"{p}.when"),
                min_order_value=float(min_value) if min_value is not None else None,
                expires=expires,
                per_customer_limit=limit,
            )
        )
    return tuple(offers)


def _parse_alarms(data: Mapping[str, Any], chk: _Checker) -> Alarms:
    spec = chk.get(data, "alarms", "", dict, required=False, default={})
    ack = chk.duration(spec.get("ack_latency_p95", "30s"), "alarms.ack_latency_p95")
    rate = spec.get("sla_miss_rate", 0.2)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        chk.fail("alarms.sla_miss_rate", f"must be a share between 0 and 1, got {rate!r}")
        rate = 0.2
    return Alarms(ack_latency_p95=ack, sla_miss_rate=float(rate))


def chk_duration_default(data: Mapping[str, Any], key: str, default: str) -> timedelta:
    try:
        return parse_duration(data.get(key, default))
    except ValueError as exc:
        raise ConfigError("campaign", [f"{key}: {exc}"]) from exc


def campaign_data(text: str, source: str) -> Any:
    """The campaign file's YAML as plain data (what parse_campaign validates)."""
    # PyYAML only where a campaign is read from its YAML: a deployed function reads the JSON copy
    # (load_campaign), so its cold start does not import the parser (issue 13).
    import yaml

    # libyaml's safe loader is ~10x faster than the pure-Python one; the same YAML either way.
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, libyaml's when present
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from exc


def source_digest(yaml_text: str) -> str:
    """What a packaged JSON copy names as its source: the SHA-256 of the YAML's text."""
    return hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()


def _packaged_copy(path: Path, yaml_text: str | None) -> Any:
    """The campaign data of the JSON copy at `path`, or None when there is none or it is another YAML's."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        envelope = json.loads(text)
    except ValueError as exc:
        raise ConfigError(path.name, [f"not valid JSON: {exc}"]) from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("campaign"), dict):
        raise ConfigError(path.name, ["not a packaged campaign: {source_sha256, campaign} expected"])
    if yaml_text is not None and envelope.get("source_sha256") != source_digest(yaml_text):
        return None  # made from the YAML before an edit: the YAML is the source
    return envelope["campaign"]


def load_campaign(name: str, directory: Path | None = None) -> Campaign:
    """Read and validate `<directory>/<name>.yaml` (the packaged campaign files by default).

    The YAML is the source. `replydesk package` adds the same data as `<name>.json` next to it in the
    deployment package (checked there to give the same Campaign), with the SHA-256 of the YAML it was
    made from; when that copy is present and made from the YAML beside it, it is read with `json`
    instead, and validated the same way. A copy of another YAML (edited since) is not read.
    """
    base = directory or CAMPAIGN_DIR
    source, packaged = base / f"{name}.yaml", base / f"{name}.json"
    try:
        yaml_text: str | None = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        yaml_text = None
    data = _packaged_copy(packaged, yaml_text)
    path = packaged if data is not None else source
    if data is None:
        if yaml_text is None:
            raise ConfigError(str(source.name), [f"campaign file not found (campaign {name!r})"])
        data = campaign_data(yaml_text, source.name)
    campaign = parse_campaign(data, source=path.name)
    if campaign.name != name:
        raise ConfigError(path.name, [f"name: is {campaign.name!r} but the file is for {name!r}"])
    return campaign
