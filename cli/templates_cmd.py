"""`replydesk templates`: the campaign's template library: list, show, render, push, history."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.template import ROOT


def bind(ns: argparse.Namespace) -> Any:
    """Point the models at the campaign's tables (`replydesk-<campaign>-<stage>-*`) on the given endpoint."""
    from chalicelib.config import load_campaign
    from chalicelib.models import ConversationModel, CustomerModel, MessageModel, TemplateModel

    endpoint = ns.endpoint or None
    if endpoint and endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        # The local emulator takes any credentials; fake ones keep a real profile out of it.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    prefix = f"replydesk-{ns.campaign}-{ns.stage}"
    tables = {
        TemplateModel: "templates",
        ConversationModel: "conversations",
        CustomerModel: "customers",
        MessageModel: "messages",
    }
    for model, suffix in tables.items():
        model.Meta.table_name = f"{prefix}-{suffix}"
        model.Meta.host = endpoint
        model.Meta.region = region
        model._connection = None
    return load_campaign(ns.campaign)


def _store(campaign: Any) -> Any:
    from chalicelib.library.repository import TemplateRepository
    from chalicelib.render import TemplateStore

    return TemplateStore(TemplateRepository(), campaign.default_language)


def _list(ns: argparse.Namespace) -> int:
    from chalicelib.library.repository import TemplateRepository

    bind(ns)
    rows = sorted(TemplateRepository().list(include_retired=ns.all), key=lambda t: (t.purpose.value, t.template_id))
    for t in rows:
        flag = " (retired)" if t.retired else ""
        print(
            f"{t.template_id:<38} v{t.version:<3} {t.purpose.value:<20} {','.join(t.languages):<15} "
            f"{','.join(t.topics) or '-':<14} {t.title}{flag}"
        )
    print(f"{len(rows)} templates", file=sys.stderr)
    return 0


def _show(ns: argparse.Namespace) -> int:
    bind(ns)
    from chalicelib.library.repository import TemplateRepository

    repo = TemplateRepository()
    t = repo.get(ns.template, ns.version) if ns.version else repo.latest(ns.template, include_retired=True)
    if t is None:
        print(f"no template {ns.template}", file=sys.stderr)
        return 1
    if ns.json:
        print(json.dumps(t.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"{t.template_id} version {t.version} by {t.author} at {t.created_at}{' (retired)' if t.retired else ''}")
    print(f"purpose {t.purpose.value}, channel {t.channel.value}, topics {', '.join(t.topics) or '-'}")
    print(f"required inputs: {', '.join(t.required_inputs) or '-'}")
    for lang in t.languages:
        if ns.lang and lang != ns.lang:
            continue
        for part, source in t.bodies[lang].items():
            print(f"\n--- {lang}/{part}\n{source.rstrip()}")
    return 0


def _inputs(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--input takes NAME=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def render_for_cli(ns: argparse.Namespace) -> dict[str, Any]:
    """What `render` prints: for a staff answer, the reply the customer would receive (wrapper included)."""
    from chalicelib import store as conversations
    from chalicelib.acknowledge import reply_subject
    from chalicelib.errors import NotFound
    from chalicelib.library.context import conversation_context, sample_context
    from chalicelib.library.model import STAFF_PURPOSES

    campaign = bind(ns)
    templates = _store(campaign)
    if ns.conversation:
        conv = conversations.get_conversation(ns.conversation)
        if conv is None:
            raise NotFound(f"no conversation {ns.conversation}")
        customer = conversations.get_customer(conv.customer_id)
        context = conversation_context(
            campaign=campaign, conversation=conv, customer=customer, agent={"name": ns.agent, "username": ""}
        )
        language = ns.lang or conv.language
        subject_base, reference = conv.subject, conv.reference
    else:
        context = sample_context(campaign, language=ns.lang)
        context["agent"] = {"name": ns.agent, "username": ""}
        language, subject_base, reference = ns.lang, "Sample subject", context["conversation"]["reference"]
    found = templates.version(ns.template, ns.version)
    rendered = templates.render_template(
        ns.template, language=language, context=context, inputs=_inputs(ns.input), version=ns.version
    )
    out: dict[str, Any] = {"template": rendered.reference(), "fallback": rendered.fallback}
    if found.purpose in STAFF_PURPOSES and found.channel.value in ("email", "sms"):
        # Staff answers go out inside the reply wrapper, on the conversation's thread.
        wrapped = {**context, "reply": {"text": rendered.text.strip(), "sent_by": ns.agent}}
        channel = found.channel.value
        if channel == "email":
            out["subject"] = reply_subject(subject_base, reference)
            out["text"] = templates.render("reply", "email", "txt", rendered.language, wrapped).text
        else:
            out["text"] = templates.render("reply", "sms", "txt", rendered.language, wrapped).text
    else:
        out["subject"], out["text"] = rendered.subject, rendered.text
    if found.channel.value == "sms":
        from chalicelib.sms import count_segments

        count = count_segments(out["text"].strip())
        out["segments"] = {"encoding": count.encoding.value, "segments": count.segments}
    return out


def _render(ns: argparse.Namespace) -> int:
    from chalicelib.errors import NotFound, ValidationError

    try:
        out = render_for_cli(ns)
    except (ValidationError, NotFound) as exc:
        print(f"cannot render: {exc}", file=sys.stderr)
        return 1
    if ns.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    ref = out["template"]
    note = " (fallback to the campaign default)" if out["fallback"] else ""
    print(f"# {ref['id']} version {ref['version']} in {ref['language']}{note}", file=sys.stderr)
    if out.get("subject"):
        print(f"Subject: {out['subject']}\n")
    print(out["text"].rstrip())
    if "segments" in out:
        print(f"# SMS: {out['segments']['segments']} {out['segments']['encoding']} segment(s)", file=sys.stderr)
    return 0


def _push(ns: argparse.Namespace) -> int:
    from chalicelib.errors import ConfigError
    from chalicelib.library.seed import push_seed

    campaign = bind(ns)
    directory = Path(ns.directory) if ns.directory else ROOT / "templates" / ns.campaign
    try:
        pushed = push_seed(campaign, directory, author=ns.author)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for p in pushed:
        note = "  (new version)" if p.changed else "  (retired: left as it is)" if p.retired else ""
        print(f"{p.template_id:<38} v{p.version}{note}")
    print(f"{sum(p.changed for p in pushed)} of {len(pushed)} templates changed", file=sys.stderr)
    return 0


def _history(ns: argparse.Namespace) -> int:
    from chalicelib.library.repository import TemplateRepository

    bind(ns)
    for v in TemplateRepository().history(ns.template):
        print(f"v{v.version}  {v.created_at}  {v.author}")
        if ns.diff and v.diff:
            print(v.diff.rstrip() + "\n")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    from local.endpoints import DEFAULT_ENDPOINT, ENV_ENDPOINT

    p.add_argument("--campaign", default="demo")
    p.add_argument("--stage", default="dev")
    p.add_argument(
        "--endpoint",
        default=os.environ.get(ENV_ENDPOINT) or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT,
        help=f"AWS endpoint (default: {ENV_ENDPOINT}, AWS_ENDPOINT_URL, else `make run`'s; '' for AWS itself)",
    )


def _reachable(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A stack that does not answer is one line on the terminal, not a traceback."""

    def run(ns: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError
        from pynamodb.exceptions import PynamoDBException

        from chalicelib.errors import TransientError

        try:
            return func(ns)
        except (TransientError, PynamoDBException, BotoCoreError) as exc:
            where = ns.endpoint or "AWS"
            print(
                f"cannot read the templates table of {ns.campaign}/{ns.stage} at {where} ({type(exc).__name__}): "
                "start the stack with `make run`, or pass --endpoint / --stage",
                file=sys.stderr,
            )
            return 1

    return run


def _add(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str, func: Callable[..., int]
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text)
    _common(p)
    p.set_defaults(func=_reachable(func))
    return p


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = _add(sub, "list", "every template's latest version", _list)
    p.add_argument("--all", action="store_true", help="include retired templates")
    p = _add(sub, "show", "one template version with its bodies", _show)
    p.add_argument("template", metavar="ID")
    p.add_argument("--version", type=int)
    p.add_argument("--lang")
    p.add_argument("--json", action="store_true")
    p = _add(sub, "render", "print the exact text a template would send", _render)
    p.add_argument("--template", required=True, metavar="ID")
    p.add_argument("--conversation", metavar="RD-…", help="render with this conversation's real context")
    p.add_argument("--lang", help="language (default: the conversation's, then the campaign default)")
    p.add_argument("--version", type=int, help="a version (default: the latest)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE", help="a required input")
    p.add_argument("--agent", default="Support", help="the agent name in the signature")
    p.add_argument("--json", action="store_true")
    p = _add(sub, "push", "load templates/<campaign>/ as new versions where changed", _push)
    p.add_argument("--directory", help="the seed directory (default templates/<campaign>)")
    p.add_argument("--author", default=os.environ.get("USER", "cli"))
    p = _add(sub, "history", "every version of a template, with diffs", _history)
    p.add_argument("template", metavar="ID")
    p.add_argument("--diff", action="store_true", help="print each version's diff against the previous one")
