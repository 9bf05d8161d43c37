"""`replydesk campaign retire`: end a campaign step by step, or all steps in one command (each idempotent)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.campaign.layout import PROJECT_ROOT, CampaignLayout

STEPS = ("stop-intake", "open-conversations", "archive", "delete-stack")


def register_retire(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cli.ops_target import LOCAL_ENDPOINT

    ret = sub.add_parser(
        "retire",
        help="end a campaign: every step in order (--dry-run lists them, --step runs one)",
        description="Runs stop-intake, open-conversations, archive and delete-stack in order, stopping at the "
        "first that refuses, with its reason. Each step is idempotent: run the command again after fixing it.",
    )
    ret.add_argument("name")
    ret.add_argument("--stage", default="dev")
    ret.add_argument("--dry-run", action="store_true", help="print every step and what it touches, do nothing")
    ret.add_argument("--step", choices=STEPS, help="run this one step only")
    ret.add_argument("--root", default=str(PROJECT_ROOT), help="project checkout holding the campaign file")
    ret.add_argument("--endpoint", default=None, help=f"the local stack's moto endpoint (default {LOCAL_ENDPOINT})")
    ret.add_argument("--aws", action="store_true", help="the deployed stage, with your usual AWS credentials")
    ret.add_argument("--region", default=None)
    ret.add_argument(
        "--stack-name", default=None, help="the CloudFormation stack (--aws; default replydesk-NAME-STAGE)"
    )
    ret.add_argument(
        "--api",
        default=None,
        metavar="URL",
        help="the stack's public API: stop-intake then checks (GET URL/health) that the running stack is closed",
    )
    opens = ret.add_argument_group("open conversations (step open-conversations)")
    opens.add_argument("--wait-until-empty", action="store_true", help="wait for staff to answer every one")
    opens.add_argument("--timeout", default="1h", help="how long --wait-until-empty waits (90s, 5m, 2h, 3d)")
    opens.add_argument("--reassign-to", metavar="QUEUE", help="move them to this queue (e.g. the supervisors')")
    opens.add_argument("--assign-to", metavar="USERNAME", help="assign them to this staff member (e.g. a supervisor)")
    opens.add_argument(
        "--close",
        action="store_true",
        help="tell each one still open the closing message on its channel (once), then close it",
    )
    opens.add_argument(
        "--settle",
        default="2m",
        help="how long to wait for the stack to carry out the moves and closes (default %(default)s)",
    )
    ret.set_defaults(func=retire_cmd)


class NoStack(Exception):
    """No stack answers where the options point (already said on stderr)."""


def _err(text: str) -> None:
    print(f"replydesk campaign retire: {text}", file=sys.stderr)


class Retire:
    """One run of the command: the campaign, its options, and the stack reached on first use."""

    def __init__(self, ns: argparse.Namespace) -> None:
        from chalicelib.config import load_campaign

        self.ns = ns
        self.layout = CampaignLayout(ns.name, Path(ns.root))
        self.campaign = load_campaign(ns.name, self.layout.campaigns_dir)
        self._target: Any = None

    @property
    def target(self) -> Any:
        if self._target is None:
            from cli.ops_target import LOCAL_ENDPOINT, bound_stack

            ns = argparse.Namespace(**vars(self.ns))
            ns.campaign, ns.endpoint = self.ns.name, self.ns.endpoint or LOCAL_ENDPOINT
            self._target = bound_stack(ns)  # says on stderr why when no stack answers
            if self._target is None:
                raise NoStack
        return self._target

    def options(self) -> Any:
        from chalicelib.campaign.retire import OpenOptions

        return OpenOptions(
            wait=self.ns.wait_until_empty,
            timeout=self.ns.timeout,
            queue=self.ns.reassign_to,
            assignee=self.ns.assign_to,
            close=self.ns.close,
        )

    # ------------------------------------------------------------------ steps
    def dry_run(self) -> int:
        from chalicelib.campaign.retire import open_conversations, plan, plan_text
        from chalicelib.ops.stack import StackNames
        from cli.template import merge_template

        conversations = None
        names = StackNames(self.ns.name, self.ns.stage, self.ns.region or "us-east-1", "123456789012")
        try:
            # The stack's names and the conversations still open in it; the plan is printed without them.
            names = self.target.names
            conversations = open_conversations(self.campaign)
        except NoStack:
            pass
        steps = plan(
            self.campaign,
            names,
            merge_template(self.campaign, self.ns.stage),
            options=self.options(),
            conversations=conversations,
            aws=self.ns.aws,
        )
        print(f"retiring campaign {self.ns.name!r} stage {self.ns.stage!r} would, in order:\n{plan_text(steps)}")
        return 0

    def stop_intake(self, *, whole: bool) -> int:
        from chalicelib.campaign.retire import close_intake

        changed = close_intake(self.layout)
        print(
            f"{self.layout.rel(self.layout.campaign_file)}: closing.closed is {'now' if changed else 'already'} true."
        )
        restart = (
            f"It takes effect when the stack restarts: `replydesk local --campaign {self.ns.name}`, or "
            f"`replydesk package --campaign {self.ns.name} --stage {self.ns.stage}` and deploy."
        )
        if changed and whole:
            # The running stack read the file at its cold start: it still takes contacts until then.
            _err(f"stop-intake: {restart} Then run retire again to continue.")
            return 1
        if changed:
            print(restart)
            return 0
        return self._check_running_stack(restart) if self.ns.api else 0

    def _check_running_stack(self, restart: str) -> int:
        """With --api: the running stack must have read the closed campaign, or it still takes contacts."""
        from local.endpoints import StackUnavailable, get_json

        url = self.ns.api.rstrip("/") + "/health"
        try:
            health = get_json(url, timeout=15)
        except StackUnavailable as exc:
            _err(f"stop-intake: cannot check the running stack ({exc})")
            return 1
        if (health.get("campaign"), health.get("stage")) != (self.ns.name, self.ns.stage):
            _err(f"stop-intake: {url} is the stack of {health.get('campaign')}/{health.get('stage')}, not this one")
            return 1
        if health.get("closed") is not True:
            _err(f"stop-intake: the stack at {self.ns.api} still takes contacts (closing.closed unread). {restart}")
            return 1
        print(f"the running stack at {self.ns.api} is closed")
        return 0

    def open_conversations(self) -> int:
        from chalicelib.campaign.retire import describe, fate, open_conversations, request
        from chalicelib.campaign.winddown import CLOSE_ACTION, REASSIGN_ACTION
        from chalicelib.config import parse_duration

        ns, campaign = self.ns, self.campaign
        if ns.assign_to and not re.match(r"^[\w.@+-]{1,128}$", ns.assign_to):
            _err(f"--assign-to {ns.assign_to!r} is not a staff username")
            return 2
        if ns.reassign_to and ns.reassign_to not in campaign.queues:
            _err(f"--reassign-to {ns.reassign_to!r} is not a queue of the campaign ({', '.join(campaign.queues)})")
            return 2
        try:
            timeout, settle = parse_duration(ns.timeout), parse_duration(ns.settle)
        except ValueError as exc:
            _err(str(exc))
            return 2
        target = self.target  # binds the models to the stack's tables
        convs = open_conversations(campaign)
        if not convs:
            print("open-conversations: no open conversation")
            return 0
        print(f"open-conversations: {len(convs)} open")
        for c in convs:
            what = fate(
                c, campaign, close=ns.close, queue=ns.reassign_to, assignee=ns.assign_to, wait=ns.wait_until_empty
            )
            print(f"  {c.queue}: {describe(c)}: {what}")
        sqs = target.client("sqs")
        events_url = sqs.get_queue_url(QueueName=target.names.queue("events"))["QueueUrl"]
        if ns.reassign_to or ns.assign_to:
            moving = [
                c.conversation_id
                for c in convs
                if (ns.reassign_to and c.queue != ns.reassign_to) or (ns.assign_to and c.assignee != ns.assign_to)
            ]
            request(sqs, events_url, REASSIGN_ACTION, moving, queue=ns.reassign_to, assignee=ns.assign_to)
            left = _poll(
                lambda: [
                    c
                    for c in open_conversations(campaign)
                    if c.conversation_id in moving
                    and (
                        (ns.reassign_to and c.queue != ns.reassign_to) or (ns.assign_to and c.assignee != ns.assign_to)
                    )
                ],
                settle.total_seconds(),
            )
            print(f"moved {len(moving) - len(left)} of {len(moving)}" + (" (the rest not yet)" if left else ""))
        if ns.wait_until_empty:
            print(f"waiting up to {ns.timeout} for staff to answer them")
            left = _poll(lambda: open_conversations(campaign), timeout.total_seconds())
            if not left:
                print("open-conversations: every conversation is answered")
                return 0
            print(f"{len(left)} still open after {ns.timeout}")
        if ns.close:
            still = open_conversations(campaign)
            request(sqs, events_url, CLOSE_ACTION, [c.conversation_id for c in still])
            print(f"asked the stack to tell {len(still)} the closing message and close them")
            left = _poll(lambda: open_conversations(campaign), settle.total_seconds())
            if not left:
                print("open-conversations: every conversation is closed")
                return 0
            _err(
                f"open-conversations: {len(left)} not closed yet (is the stack processing its events queue?); "
                "run the step again: nothing is sent twice"
            )
            return 1
        left = open_conversations(campaign)
        if not left:
            print("open-conversations: no open conversation")
            return 0
        _err(
            f"open-conversations: {len(left)} still open: answer them in the console, or wait "
            "(--wait-until-empty --timeout 2d), move them (--reassign-to QUEUE, --assign-to USER) or close them "
            "with the closing message (--close)"
        )
        return 1

    def archive(self) -> int:
        from chalicelib.campaign.retire import archive

        result = archive(self.campaign, self.target.names, s3=self.target.client("s3"))
        print(
            f"archived campaign {self.ns.name!r} into s3://{result.bucket}/: {result.customers} customers "
            f"({result.skipped} merged or empty skipped), {len(result.days)} days, {result.conversations} "
            f"conversations, {result.messages} messages"
        )
        return 0

    def delete_stack(self) -> int:
        from botocore.exceptions import ClientError

        from chalicelib.campaign.retire import archive_bucket
        from cli.template import merge_template

        target = self.target
        bucket = archive_bucket(target.names)
        try:
            target.client("s3").head_object(Bucket=bucket, Key="manifest.json")
        except ClientError:
            _err(f"no archive in s3://{bucket}/ yet: run `--step archive` first")
            return 1
        template = merge_template(self.campaign, self.ns.stage)
        if self.ns.aws:
            return self._delete_cloudformation(template, bucket)
        from local.teardown import leftovers, teardown

        done = teardown(template, client=target.client, region=target.region)
        left = leftovers(template, client=target.client, region=target.region)
        print(f"deleted {len(done.deleted)} resources of {target.names.prefix}; kept {len(done.kept)} (retention):")
        print("\n".join(f"  kept {k}" for k in done.kept))
        if left:
            print("still there:\n" + "\n".join(f"  {x}" for x in left), file=sys.stderr)
            return 1
        print(
            f"the archive stays in s3://{bucket}/. Stop `replydesk local` now: nothing of the stack runs in the "
            "emulator."
        )
        return 0

    def _delete_cloudformation(self, template: dict[str, Any], bucket: str) -> int:
        from chalicelib.campaign.retire import delete_cloudformation_stack

        name = self.ns.stack_name or self.target.names.prefix
        print(f"deleting CloudFormation stack {name} (waiting until it is gone)")
        try:
            done = delete_cloudformation_stack(self.target.client("cloudformation"), name, template)
        except RuntimeError as exc:
            _err(f"delete-stack: {exc}")
            return 1
        if not done.existed:
            print(f"stack {name} does not exist (already deleted): nothing to do")
            return 0
        print(f"stack {name}: {done.status}; deleted {len(done.deleted)} resources, kept {len(done.kept)} (retention):")
        print("\n".join(f"  kept {k}" for k in done.kept))
        print(f"the archive stays in s3://{bucket}/.")
        return 0

    def run(self, step: str, *, whole: bool) -> int:
        if step == "stop-intake":
            return self.stop_intake(whole=whole)
        if step == "open-conversations":
            return self.open_conversations()
        if step == "archive":
            return self.archive()
        return self.delete_stack()


def _poll(left: Callable[[], list[Any]], seconds: float) -> list[Any]:
    """What `left()` still returns once it is empty or `seconds` have passed (checked at least once)."""
    deadline = time.monotonic() + seconds
    interval = min(5.0, max(0.2, seconds / 30))
    while True:
        found = left()
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(interval)


def retire_cmd(ns: argparse.Namespace) -> int:
    from chalicelib.errors import ConfigError

    try:
        retire = Retire(ns)
    except ConfigError as exc:
        _err(str(exc))
        return 2
    try:
        return _retire(retire, ns)
    except NoStack:
        return 1


def _retire(retire: Retire, ns: argparse.Namespace) -> int:
    if ns.dry_run:
        return retire.dry_run()
    if ns.step:
        return retire.run(ns.step, whole=False)
    for i, step in enumerate(STEPS, 1):
        print(f"== {i}/{len(STEPS)} {step}")
        code = retire.run(step, whole=True)
        if code != 0:
            _err(f"stopped at step {step} (exit {code}); fix what it names and run the command again")
            return code
    print(f"campaign {ns.name!r} stage {ns.stage!r} is retired")
    return 0
