"""`replydesk campaign new`: a complete campaign (file, seed library per language, brief) from a few answers."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.campaign.layout import PROJECT_ROOT, CampaignLayout
from chalicelib.errors import ConfigError

# A new campaign's system templates start as the demo campaign's, which are written in en, sv, de, fr
# and es, branch on `campaign.closed` and are tested with the demo: one copy, not a second set to keep
# in step. These are the files taken; the demo's answers and offers are its own.
SEED_DIR = PROJECT_ROOT / "templates" / "demo"
SEED_FILES = (
    "acknowledge-subject.email.txt",
    "acknowledge.email.html",
    "acknowledge.email.txt",
    "acknowledge.sms.txt",
    "follow_up.email.html",
    "follow_up.email.txt",
    "follow_up.sms.txt",
    "opt_in_confirmation.sms.txt",
    "opt_out_confirmation.sms.txt",
    "rating-thanks.snippet.txt",
    "reply.email.html",
    "reply.email.txt",
    "reply.sms.txt",
)
# A line the scaffold puts at the top of text it could not write in the file's language (a Jinja2
# comment: it never reaches a customer). `campaign check` names every file that still has it.
TRANSLATE_MARK = "{# replydesk:translate"
# The same for starter answers: staff can send them, but they are placeholders (check notes them).
STARTER_MARK = "{# replydesk:starter"

SYSTEM_TEMPLATES = (
    # id, purpose, title
    ("acknowledge.email", "acknowledge", "Acknowledgement (email)"),
    ("acknowledge.sms", "acknowledge", "Acknowledgement (SMS)"),
    ("reply.email", "reply", "Staff reply wrapper (email)"),
    ("reply.sms", "reply", "Staff reply wrapper (SMS)"),
    ("follow_up.email", "follow_up", "Follow-up after a staff answer (email)"),
    ("follow_up.sms", "follow_up", "Follow-up after a staff answer (SMS)"),
    ("opt_out_confirmation.sms", "opt_out_confirmation", "SMS opt-out confirmation"),
    ("opt_in_confirmation.sms", "opt_in_confirmation", "SMS opt-in confirmation"),
    ("rating-thanks.snippet", "rating_thanks", "Thank-you page after a rating"),
)

# A starter answer per topic, in each language the scaffold can write (staff replace the middle line).
STARTER_ANSWER = {
    "en": 'Thank you for your question about "{{ conversation.topic_label }}". Here is what we can tell you:\n\n'
    "(Write the answer here.)\n\nIf anything is still unclear, simply reply and we will help.\n",
    "sv": 'Tack för din fråga om "{{ conversation.topic_label }}". Det här kan vi berätta:\n\n'
    "(Skriv svaret här.)\n\nOm något fortfarande är oklart, svara bara på meddelandet så hjälper vi dig.\n",
    "de": 'Vielen Dank für Ihre Frage zu "{{ conversation.topic_label }}". Folgendes können wir Ihnen sagen:\n\n'
    "(Hier die Antwort schreiben.)\n\nWenn noch etwas unklar ist, antworten Sie einfach, wir helfen gern.\n",
    "fr": "Merci pour votre question concernant « {{ conversation.topic_label }} ». Voici ce que nous pouvons "
    "vous dire :\n\n(Écrivez la réponse ici.)\n\nSi quelque chose reste flou, répondez simplement et nous "
    "vous aiderons.\n",
    "es": "Gracias por su pregunta sobre «{{ conversation.topic_label }}». Esto es lo que podemos decirle:\n\n"
    "(Escriba aquí la respuesta.)\n\nSi algo sigue sin estar claro, responda a este mensaje y le ayudaremos.\n",
}
_FALLBACK_LANGUAGE = "en"
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
_TOPIC_RE = re.compile(r"^[a-z][a-z0-9_]{1,40}$")

DEFAULT_TOPICS = (
    ("order_status", "Where is my order?", ("Where is my order?", "My parcel has not arrived yet.")),
    ("returns", "Returns and refunds", ("I want to return an item.", "How do I get a refund?")),
    ("product", "Product questions", ("Is this product available in another size?", "What is it made of?")),
)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    id: str
    label: str
    examples: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScaffoldOptions:
    """Everything `campaign new` asks; each has a default that passes `campaign check`."""

    name: str
    brand: str = ""
    languages: tuple[str, ...] = ("en",)
    domain: str = ""  # inbound mail domain; default `<name>.replydesk.test`
    sender: str = ""  # default support@<domain>
    sender_name: str = ""
    addresses: tuple[str, ...] = ()  # default the sender address
    sms_number: str = "+15550100100"
    sms_help: str = ""
    topics: tuple[TopicSpec, ...] = ()
    faq: tuple[tuple[str, str], ...] = ()  # (topic id, answer in the default language)
    offer: str = ""  # the complementary offer in the follow-up, default language
    timezone: str = "UTC"
    brief: dict[str, str] = field(default_factory=dict)  # section -> text (products, promotion, offers, tone, contacts)

    @property
    def inbound_domain(self) -> str:
        return self.domain or f"{self.name}.replydesk.test"

    @property
    def sender_email(self) -> str:
        return self.sender or f"support@{self.inbound_domain}"

    @property
    def brand_name(self) -> str:
        return self.brand or self.name.replace("-", " ").title()

    @property
    def topic_specs(self) -> tuple[TopicSpec, ...]:
        return self.topics or tuple(TopicSpec(t, label, examples) for t, label, examples in DEFAULT_TOPICS)


def _q(value: str) -> str:
    """A YAML scalar that survives any text: a JSON string is valid YAML."""
    return json.dumps(value, ensure_ascii=False)


# The closing message in the starter languages; another language gets the English text to translate.
CLOSING_TEXTS = {
    "en": "The {brand} campaign has ended. Thank you for writing to us.",
    "sv": "Kampanjen {brand} är avslutad. Tack för att du skrev till oss.",
    "de": "Die Kampagne {brand} ist beendet. Danke für Ihre Nachricht.",
    "fr": "La campagne {brand} est terminée. Merci de nous avoir écrit.",
    "es": "La campaña {brand} ha terminado. Gracias por escribirnos.",
}


def closing_messages(brand: str, languages: Sequence[str], *, indent: str) -> str:
    """YAML lines `lang: "text"` of the closing message, one per campaign language."""
    lines = []
    for lang in languages:
        text = CLOSING_TEXTS.get(lang, CLOSING_TEXTS["en"]).format(brand=brand)
        mark = "" if lang in CLOSING_TEXTS else "  # English: translate it"
        lines.append(f"{indent}{lang}: {_q(text)}{mark}")
    return "\n".join(lines)


def _qlist(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def campaign_yaml(o: ScaffoldOptions) -> str:
    """The campaign file, every field with a comment saying what it does."""
    addresses = o.addresses or (o.sender_email,)
    help_text = o.sms_help or f"{o.brand_name} support. Reply with your question, or STOP to opt out."
    topics = []
    for t in o.topic_specs:
        examples = "\n".join(f"      - {_q(e)}" for e in (t.examples or (t.label,)))
        topics.append(
            f"  - id: {t.id}\n    label: {_q(t.label)}\n    keywords: {_qlist(t.keywords)}\n    examples:\n{examples}"
        )
    faq = "\n".join(f"  {tid}: {_q(text)}" for tid, text in o.faq) or "  {}"
    offer = f"  offer: {_q(o.offer)}" if o.offer else '  # offer: "10% off your next order with code THANKYOU10"'
    return f"""\
# Campaign {o.name}: one stack, one campaign. Written by `replydesk campaign new`; edit freely, then run
# `replydesk campaign check {o.name}`, which names every piece a running stack would miss.

# Lower-case name: the stack, its tables and queues are named replydesk-<name>-<stage>.
name: {o.name}
# Shown to customers in every template ({{{{ campaign.brand }}}}) and on the contact page.
brand: {_q(o.brand_name)}
# 2-4 capital letters that start every reference number (RD-7K3M9Q).
reference_prefix: RD

# Who acks and replies are from. The address must be one the stack receives (inbound.addresses),
# so a customer's answer to the ack comes back to the campaign.
sender:
  email: {_q(o.sender_email)}
  name: {_q(o.sender_name or o.brand_name + " Support")}

# Mail the stack receives (an SES receipt rule per address) and the domain of our Message-IDs.
inbound:
  domain: {_q(o.inbound_domain)}
  addresses: {_qlist(addresses)}
  message_id_domain: {_q(o.inbound_domain)}

# The two-way SMS number (E.164); HELP answers with help_text, which must fit segment_budget segments.
sms:
  number: {_q(o.sms_number)}
  segment_budget: 2
  help_text: {_q(help_text)}
  # Words besides STOP/START (and their usual translations) that opt out or back in.
  opt_out_keywords: []
  opt_in_keywords: []

# Languages of the campaign, the default first: every system template exists in each of them.
languages: {_qlist(o.languages)}

# What customers write about. The topic model is trained from these keywords and examples
# (`replydesk package` retrains it whenever they change); the contact page offers the labels.
topics:
{chr(10).join(topics)}

# Answers shown on the contact page for a topic before submit, and in the ack (default language;
# the library's faq-<topic>.snippet holds each language's text).
faq:
{faq}

# Staff work queues, each with SLA targets per urgency (business time: s, m, h, d).
queues:
  - id: general
    label: General
    sla:
      first_response: {{low: 2d, normal: 1d, high: 4h, urgent: 1h}}
      resolution: {{low: 10d, normal: 5d, high: 2d, urgent: 1d}}
    # Where a conversation goes when its deadline is missed.
    escalation_queue: supervisors
  - id: supervisors
    label: Supervisors
    sla:
      first_response: {{low: 1d, normal: 8h, high: 2h, urgent: 30m}}
      resolution: {{low: 5d, normal: 3d, high: 1d, urgent: 8h}}

# First matching rule wins (when: topic, urgency, language, channel, tag); the rest go to default_queue.
routing:
  default_queue: general
  rules:
    - when: {{urgency: [urgent]}}
      queue: supervisors

# When SLA clocks run. always_open: true makes every hour business time.
business_hours:
  timezone: {_q(o.timezone)}
  always_open: false
  weekly: {{mon: "09:00-17:00", tue: "09:00-17:00", wed: "09:00-17:00", thu: "09:00-17:00", fri: "09:00-17:00"}}
  holidays: []

# At most this many acks per sender in the window.
ack:
  rate_limit: {{max: 3, per: 24h}}

# Contact-form submissions per client IP and per email address (over it: 429).
web_form:
  per_ip: {{max: 20, per: 1h}}
  per_address: {{max: 5, per: 1h}}

# SES receipt verdicts that make a sender count as forged (stored, never acked).
sender_policy:
  reject_spf: [FAIL]
  reject_dkim: [FAIL]
  reject_dmarc: [FAIL]
  reject_spam: [FAIL]
  reject_virus: [FAIL]

# The follow-up after a staff answer, and when an unanswered follow-up resolves the conversation.
follow_up:
  delay: 2d
  resolve_after: 5d
  # The complementary offer (only to customers who accepted marketing); its text per language is
  # the library's complementary_offer.snippet.
{offer}
  # live_chat_url: https://chat.example.com/{o.name}

# A reply within this window after resolution reopens the conversation (SMS threads by phone).
reopen_window: 7d
# Days the stored messages are kept.
retention_days: 365

# Retention offers staff may make (each sent with its library template), e.g.
# offers:
#   - id: free_exchange
#     label: Free exchange
#     gives: Replacement shipped at once, prepaid return label
#     template: retention-free-exchange.email
#     when: {{topics: [returns]}}
#     per_customer_limit: 1
offers: []

# One-click satisfaction rating in the follow-up mail.
csat:
  enabled: true
  link_valid_for: 30d

# Alarm thresholds: ack latency p95, hourly share of first responses missing their SLA.
alarms:
  ack_latency_p95: 30s
  sla_miss_rate: 0.2

# The analytics export carries metadata only unless this is true.
analytics:
  include_bodies: false

# A retired campaign (`replydesk campaign retire {o.name} --step stop-intake` sets closed: true; it takes
# effect when the stack restarts or is redeployed): the contact page shows the message instead of the
# form (a post gets 410), and mail and SMS are acknowledged with it instead of the usual ack. The
# message per language (`campaign check` names a missing one); mail: auto_reply (the message as the
# final ack) or bounce (SES refuses the mail; nothing is acknowledged).
closing:
  closed: false
  message:
{closing_messages(o.brand_name, o.languages, indent="    ")}
  mail: auto_reply
  # next_url: https://www.example.com/support
"""


BRIEF_SECTIONS = (
    ("products", "Products", "Which products the campaign is about: names, sizes, prices, where to buy."),
    ("promotion", "Promotion", "What the promotion promises, from when until when, and its conditions."),
    ("offers", "What staff may offer", "Goodwill you may give without asking: discounts, exchanges, gifts."),
    ("tone", "Tone", "How we write: formal or informal address, length, sign-off."),
    ("contacts", "Escalation contacts", "Who decides what you may not: names, queues, phone numbers."),
)


def brief_markdown(o: ScaffoldOptions) -> str:
    parts = [
        f"# {o.brand_name}: campaign brief",
        "",
        "Read this before your first answer. It is shown in the staff console next to every conversation.",
    ]
    for key, title, hint in BRIEF_SECTIONS:
        parts += ["", f"## {title}", "", o.brief.get(key) or f"_{hint}_"]
    return "\n".join(parts) + "\n"


def _starter(lang: str, filename: str) -> tuple[str, bool]:
    """A seed file's text in `lang`, or the fallback language's with a translate mark (second: marked)."""
    path = SEED_DIR / lang / filename
    if path.is_file():
        return path.read_text(encoding="utf-8"), False
    text = (SEED_DIR / _FALLBACK_LANGUAGE / filename).read_text(encoding="utf-8")
    return _mark(text, lang, _FALLBACK_LANGUAGE), True


def _mark(text: str, lang: str, source_lang: str) -> str:
    return f"{TRANSLATE_MARK}: written in {source_lang}, translate it to {lang}, then delete this line #}}\n{text}"


def _library_yaml(o: ScaffoldOptions) -> str:
    lines = [
        f"# The {o.name} campaign's template library (`replydesk templates push --campaign {o.name}`; the local",
        "# stack and deploy push it too). Bodies are `<lang>/<stem>.<channel>.<ext>`; `<stem>-subject.email.txt`",
        "# is a mail's subject. System templates need every campaign language.",
        "templates:",
        "  # ------------------------------------------------ system: sent by replydesk itself",
    ]
    for tid, purpose, title in SYSTEM_TEMPLATES:
        lines.append(f"  {tid}: {{purpose: {purpose}, title: {_q(title)}}}")
    if o.offer:
        lines.append(
            f"  complementary_offer.snippet: {{purpose: complementary_offer, title: {_q('Complementary offer')}}}"
        )
    labels = {t.id: t.label for t in o.topic_specs}
    for tid, _text in o.faq:
        lines.append(f"  faq-{tid}.snippet: {{purpose: faq, title: {_q('FAQ: ' + labels[tid])}, topics: [{tid}]}}")
    lines.append("  # ------------------------------------------------ answers: what staff insert in the composer")
    for t in o.topic_specs:
        lines.append(
            f"  answer-{t.id.replace('_', '-')}.email: {{purpose: answer, title: {_q(t.label)}, topics: [{t.id}]}}"
        )
    return "\n".join(lines) + "\n"


def validate_options(o: ScaffoldOptions) -> None:
    """The answers the scaffold itself needs right (the campaign file's own validation does the rest)."""
    problems = []
    if not _NAME_RE.match(o.name):
        problems.append(f"NAME: must be a lower-case name like 'acme', got {o.name!r}")
    if not o.languages:
        problems.append("--languages: give at least one language (the default first)")
    for lang in o.languages:
        if not re.match(r"^[a-z]{2}$", lang):
            problems.append(f"--languages: {lang!r} is not an ISO 639-1 code like 'en'")
    if len(set(o.languages)) != len(o.languages):
        problems.append("--languages: a language appears twice")
    ids = [t.id for t in o.topic_specs]
    for t in o.topic_specs:
        if not _TOPIC_RE.match(t.id):
            problems.append(f"--topic: {t.id!r} is not a topic id like 'order_status'")
    if len(set(ids)) != len(ids):
        problems.append("--topic: a topic id appears twice")
    if len(ids) < 2:
        problems.append("--topic: give at least two topics (the topic model tells topics apart)")
    for tid, _ in o.faq:
        if tid not in ids:
            problems.append(f"--faq: {tid!r} is not one of the topics ({', '.join(ids)})")
    if problems:
        raise ConfigError("campaign new", problems)


def scaffold(o: ScaffoldOptions, layout: CampaignLayout, *, force: bool = False) -> list[Path]:
    """Write the campaign file, the brief and `templates/<name>/`; returns the files written.

    Refuses (ConfigError) to overwrite an existing campaign unless `force`.
    """
    validate_options(o)
    existing = [p for p in (layout.campaign_file, layout.brief_file, layout.templates_dir) if p.exists()]
    if existing and not force:
        raise ConfigError(
            "campaign new",
            [f"{layout.rel(p)} already exists (use --force to overwrite)" for p in existing],
        )
    files: dict[Path, str] = {
        layout.campaign_file: campaign_yaml(o),
        layout.brief_file: brief_markdown(o),
        layout.templates_dir / "library.yaml": _library_yaml(o),
    }
    default = o.languages[0]
    for lang in o.languages:
        out = layout.templates_dir / lang
        for filename in SEED_FILES:
            files[out / filename] = _starter(lang, filename)[0]
        for t in o.topic_specs:
            stem = f"answer-{t.id.replace('_', '-')}.email.txt"
            if lang in STARTER_ANSWER:
                body = STARTER_ANSWER[lang]
            else:
                body = _mark(STARTER_ANSWER[_FALLBACK_LANGUAGE], lang, _FALLBACK_LANGUAGE)
            files[out / stem] = (
                f"{STARTER_MARK}: replace the placeholder with your answer, then delete this line #}}\n{body}"
            )
        # The campaign's own texts are given in the default language: other languages need a translation.
        for tid, text in o.faq:
            files[out / f"faq-{tid}.snippet.txt"] = (
                text + "\n" if lang == default else _mark(text + "\n", lang, default)
            )
        if o.offer:
            name = "complementary_offer.snippet.txt"
            files[out / name] = o.offer + "\n" if lang == default else _mark(o.offer + "\n", lang, default)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)
