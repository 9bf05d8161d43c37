"""`replydesk campaign`: scaffold a new campaign (new), check it is complete (check), retire it (retire)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chalicelib.campaign.layout import PROJECT_ROOT, CampaignLayout

BRIEF_KEYS = ("products", "promotion", "offers", "tone", "contacts")


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return tuple(out)


def _pairs(values: list[str] | None, flag: str) -> list[tuple[str, str]]:
    out = []
    for v in values or []:
        key, sep, text = v.partition(":")
        if not sep or not key.strip() or not text.strip():
            raise SystemExit(f"replydesk campaign new: {flag} wants TOPIC:TEXT, got {v!r}")
        out.append((key.strip(), text.strip()))
    return out


def _new(ns: argparse.Namespace) -> int:
    from chalicelib.campaign.scaffold import ScaffoldOptions, TopicSpec, scaffold
    from chalicelib.errors import ConfigError

    examples = _pairs(ns.example, "--example")
    keywords = _pairs(ns.keyword, "--keyword")
    topics = tuple(
        TopicSpec(
            id=tid,
            label=label,
            examples=tuple(e for t, e in examples if t == tid),
            keywords=tuple(k for t, k in keywords if t == tid),
        )
        for tid, label in _pairs(ns.topic, "--topic")
    )
    options = ScaffoldOptions(
        name=ns.name,
        brand=ns.brand or "",
        languages=_split(ns.languages) or ("en",),
        domain=ns.domain or "",
        sender=ns.sender or "",
        sender_name=ns.sender_name or "",
        addresses=_split(ns.address),
        sms_number=ns.sms_number,
        sms_help=ns.sms_help or "",
        topics=topics,
        faq=tuple(_pairs(ns.faq, "--faq")),
        offer=ns.offer or "",
        timezone=ns.timezone,
        brief={
            k: v for k in ("products", "promotion", "offers", "tone", "contacts") if (v := getattr(ns, f"brief_{k}"))
        },
    )
    layout = CampaignLayout(ns.name, Path(ns.root))
    try:
        written = scaffold(options, layout, force=ns.force)
    except ConfigError as exc:
        print(f"replydesk campaign new: {exc}", file=sys.stderr)
        return 2
    print(f"campaign {ns.name!r}: wrote {len(written)} files")
    for path in (layout.campaign_file, layout.brief_file, layout.templates_dir):
        print(f"  {layout.rel(path)}")
    from chalicelib.campaign.checks import check_campaign

    # Trained now so that `check` passes straight away; `package` retrains it when the topics change.
    from cli.campaign_train import ensure_model

    report = check_campaign(ns.name, layout, train=None if ns.no_train else ensure_model)
    print(report.text())
    print(f"next: edit them, then `replydesk campaign check {ns.name}`")
    return 0


def _check(ns: argparse.Namespace) -> int:
    from chalicelib.campaign.checks import check_campaign
    from cli.campaign_train import ensure_model

    report = check_campaign(ns.name, CampaignLayout(ns.name, Path(ns.root)), train=ensure_model if ns.train else None)
    print(report.text(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    root_help = "project checkout holding chalicelib/campaigns and templates (default: this one)"

    new = sub.add_parser("new", help="scaffold a complete campaign: file, templates per language, brief")
    new.add_argument("name", help="lower-case campaign name, e.g. acme")
    new.add_argument("--root", default=str(PROJECT_ROOT), help=root_help)
    new.add_argument("--brand", help="brand shown to customers (default: the name, capitalised)")
    new.add_argument("--languages", action="append", help="comma-separated ISO codes, the default first (en)")
    new.add_argument("--domain", help="inbound mail domain (default NAME.replydesk.test)")
    new.add_argument("--sender", help="sender address of acks and replies (default support@DOMAIN)")
    new.add_argument("--sender-name", help="display name of the sender (default: BRAND Support)")
    new.add_argument("--address", action="append", help="an inbound address (repeat or comma-separate)")
    new.add_argument("--sms-number", default="+15550100100", help="the two-way SMS number, E.164")
    new.add_argument("--sms-help", help="the answer to HELP")
    new.add_argument("--topic", action="append", help="TOPIC_ID:Label (repeat; default three shop topics)")
    new.add_argument("--example", action="append", help="TOPIC_ID:an example message (repeat)")
    new.add_argument("--keyword", action="append", help="TOPIC_ID:keyword (repeat)")
    new.add_argument("--faq", action="append", help="TOPIC_ID:FAQ answer in the default language (repeat)")
    new.add_argument("--offer", help="complementary offer in the follow-up, default language")
    new.add_argument("--timezone", default="UTC", help="business-hours time zone (default UTC)")
    for key, what in (
        ("products", "products"),
        ("promotion", "the promotion"),
        ("offers", "what staff may offer"),
        ("tone", "tone of voice"),
        ("contacts", "escalation contacts"),
    ):
        new.add_argument(f"--brief-{key}", help=f"brief section: {what} (Markdown)")
    new.add_argument("--force", action="store_true", help="overwrite an existing campaign's files")
    new.add_argument("--no-train", action="store_true", help="leave the topic model to `package`")
    new.set_defaults(func=_new)

    chk = sub.add_parser("check", help="name every piece the campaign's stack would miss (exit 1 if any)")
    chk.add_argument("name")
    chk.add_argument("--root", default=str(PROJECT_ROOT), help=root_help)
    chk.add_argument("--train", action="store_true", help="train the topic model if missing or stale")
    chk.set_defaults(func=_check)
    from cli.retire_cmd import register_retire

    register_retire(sub)
