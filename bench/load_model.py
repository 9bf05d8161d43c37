"""Load model: what a campaign's contacts per day and channel mix ask of each AWS quota, and which binds first.

Pure arithmetic, no AWS: for every quota on the contact path it prints the rate (or daily amount, or
open count) the peak demands, the quota (AWS's default, or the stack's own setting), the headroom
(quota / demand; below 1 the campaign is throttled there) and the design's answer. The per-contact
figures are the design's (one ack per contact, one SLA clock, the answer and the follow-up later);
`bench_cost.py` measures the AWS calls behind them.

    .venv/bin/python bench/load_model.py [--per-day 1000000] [--peak 50] [--mix email=0.5,sms=0.2,web=0.3]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

# What one contact asks, by channel (from the design and bench_cost.py's counts on the local stack).
ACK_PER_CONTACT = 1.0  # at most one ack per conversation; suppressed ones send nothing (upper bound)
REPLIES_PER_CONTACT = 2.0  # the staff answer and the follow-up, spread over the day (not at the peak)
CONVERSATION_WRITES_PER_CONTACT = 4.0  # writes to the conversation item on the ack path (queue GSI moves)
SLA_TRANSITIONS_PER_CONTACT = 1.0  # bench_workflow.py: answered, the reply stops the clock at its first Wait
FOLLOWUP_TRANSITIONS_PER_CONTACT = 3.0  # bench_workflow.py: follow-up sent, then auto-resolved
EXECUTIONS_PER_CONTACT = 2.0  # an SLA clock and a follow-up
DDB_CALLS_PER_CONTACT = 35.0  # bench_cost.py: DynamoDB calls on the API + intake path, all tables
LAMBDA_SECONDS_PER_CONTACT = 0.3  # intake time per record on AWS (bench_cost.py's local figure is higher)


@dataclass(frozen=True, slots=True)
class Quota:
    name: str
    quota: float
    unit: str
    demand: float
    answer: str
    kind: str = "account quota"  # "account quota" (AWS raises it on request), "stack setting", "hard limit"

    @property
    def headroom(self) -> float:
        return self.quota / self.demand if self.demand else float("inf")


def parse_mix(text: str) -> dict[str, float]:
    mix = {k.strip(): float(v) for k, v in (part.split("=") for part in text.split(",") if part)}
    unknown = set(mix) - {"email", "sms", "web"}
    if unknown:
        raise SystemExit(f"--mix: unknown channel(s) {sorted(unknown)}; use email, sms, web")
    total = sum(mix.values())
    if total <= 0:
        raise SystemExit("--mix: the shares must add up to more than 0")
    return {ch: mix.get(ch, 0.0) / total for ch in ("email", "sms", "web")}


def quotas(per_day: float, peak: float, mix: dict[str, float], args: argparse.Namespace) -> list[Quota]:
    email, sms, web = (peak * mix[ch] for ch in ("email", "sms", "web"))
    mail_per_day = per_day * (mix["email"] + mix["web"]) * (ACK_PER_CONTACT + REPLIES_PER_CONTACT)
    sms_parts_per_day = per_day * mix["sms"] * (ACK_PER_CONTACT + REPLIES_PER_CONTACT)
    busiest_queue = peak * args.busiest_queue_share
    lifetime_days = args.execution_hours / 24
    return [
        Quota(
            "SES sending rate",
            args.ses_rate,
            "mails/s",
            (email + web) * ACK_PER_CONTACT,
            "ask AWS for a higher rate before launch (out of the sandbox: 1 mail/s, 200/day); the outbox "
            "retries throttled sends, so a burst waits rather than drops",
        ),
        Quota(
            "SES sending quota",
            args.ses_daily,
            "mails/day",
            mail_per_day,
            "acks + staff answers + follow-ups; raise the 24-hour quota with the rate",
        ),
        Quota(
            "SMS parts per second",
            args.sms_mps,
            "parts/s",
            sms * ACK_PER_CONTACT,
            "toll-free numbers send 3 parts/s; 10DLC throughput follows the brand's trust score, a short "
            "code 100/s: acks are kept to one part by the segment budget; add numbers or a short code",
            kind="hard limit",
        ),
        Quota(
            "SMS spend limit",
            args.sms_spend,
            "USD/month",
            sms_parts_per_day * 30 * args.sms_price,
            "the account's monthly SMS spending quota (new accounts: 1 USD) must be raised by AWS",
        ),
        Quota(
            "API Gateway POST /contact",
            args.contact_rps,
            "requests/s",
            web,
            "the stack's own method throttle (infra/template.yaml: 5 rps, burst 20) is there to stop "
            "floods; a campaign expecting this peak raises it (account limit 10,000 rps)",
            kind="stack setting",
        ),
        Quota(
            "API Gateway stage",
            args.stage_rps,
            "requests/s",
            web + args.staff * 0.5,
            "stage throttle 50 rps (burst 100): the form plus the console's polling (a request every ~2 s per agent)",
            kind="stack setting",
        ),
        Quota(
            "Lambda concurrency",
            args.lambda_concurrency,
            "executions",
            peak * LAMBDA_SECONDS_PER_CONTACT + web * 0.1,
            "concurrency = rate x duration (batches of 10 per intake invocation); 1,000 per region by "
            "default, and new accounts may have less: reserve some for process_intake",
        ),
        Quota(
            "SQS -> Lambda mapping",
            1250,
            "concurrent pollers",
            peak / 10 * LAMBDA_SECONDS_PER_CONTACT * 10,
            "the event source mapping scales to 1,250 concurrent batches for a standard queue; batch 10, "
            "no window (an ack should not wait for a fuller batch)",
            kind="hard limit",
        ),
        Quota(
            "Step Functions StartExecution",
            args.sfn_start_rps,
            "starts/s",
            peak * 1.0,
            "one SLA clock per contact at the peak (the follow-up starts later, after the staff answer); "
            "us-east-1 refills 300 starts/s (bucket 1,300)",
        ),
        Quota(
            "Step Functions state transitions",
            args.sfn_transition_rps,
            "transitions/s",
            peak * (SLA_TRANSITIONS_PER_CONTACT + FOLLOWUP_TRANSITIONS_PER_CONTACT) / args.transition_spread,
            "transitions happen at each clock's deadlines, spread over the SLA; fewer states per clock "
            "(issue 13, item 4) cut this and the bill",
        ),
        Quota(
            "Step Functions open executions",
            args.open_executions,
            "executions",
            per_day * EXECUTIONS_PER_CONTACT * lifetime_days,
            "every clock runs until its last deadline: starts per day x lifetime; stopping a clock when "
            "the conversation is resolved shortens the lifetime",
        ),
        Quota(
            "DynamoDB, all tables",
            args.table_wcu,
            "requests/s",
            peak * DDB_CALLS_PER_CONTACT,
            "all tables together at the peak, each well under its 40,000 WRU/s on-demand maximum",
            kind="account quota",
        ),
        Quota(
            "DynamoDB queue index partition",
            1000,
            "writes/s",
            busiest_queue * CONVERSATION_WRITES_PER_CONTACT,
            "the queue GSI's key is the queue: every write that moves a conversation's due time lands in "
            "its queue's partition (1,000 WCU/s), and a throttled GSI throttles the table; shard a queue "
            "busier than that (queue#n)",
            kind="hard limit",
        ),
        Quota(
            "DynamoDB one rate-limit counter",
            1000,
            "writes/s",
            args.noisy_sender_rps,
            "one noisy sender's counter is one item (1,000 WCU/s); API Gateway's 5 rps on POST /contact "
            "stops the sender long before that",
            kind="hard limit",
        ),
        Quota(
            "CloudWatch metrics (EMF)",
            args.log_events_rps,
            "log events/s",
            peak * 3,
            "metrics are EMF lines in the function's logs, not PutMetricData calls (150 TPS); about 3 "
            "blobs per contact, up to 100 metrics each",
        ),
    ]


def main(ns: argparse.Namespace) -> None:
    mix = parse_mix(ns.mix)
    average = ns.per_day / 86400
    print(
        f"{ns.per_day:,.0f} contacts/day (average {average:.1f}/s, peak {ns.peak:g}/s), mix "
        + ", ".join(f"{ch} {share:.0%}" for ch, share in mix.items())
    )
    rows = quotas(ns.per_day, ns.peak, mix, ns)
    print(f"{'quota':<34} {'demand':>14} {'quota':>14} {'unit':<18} {'headroom':>9}  kind")
    for q in rows:
        flag = "  <- throttled" if q.headroom < 1 else ""
        print(f"{q.name:<34} {q.demand:>14,.1f} {q.quota:>14,.0f} {q.unit:<18} {q.headroom:>8.1f}x  {q.kind}{flag}")
    binding = sorted(rows, key=lambda q: q.headroom)
    first = binding[0]
    print(f"binds first: {first.name} ({first.demand:,.1f} {first.unit} against {first.quota:,.0f}): {first.answer}")
    for q in binding[1:4]:
        print(f"then: {q.name} ({q.headroom:.1f}x): {q.answer}")
    fixed = [q for q in binding if q.kind != "account quota"]
    if fixed:
        q = fixed[0]
        print(f"first limit no support case raises: {q.name} ({q.headroom:.1f}x, {q.kind}): {q.answer}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--per-day", type=float, default=1_000_000)
    p.add_argument("--peak", type=float, default=50.0, help="peak contacts per second")
    p.add_argument("--mix", default="email=0.5,sms=0.2,web=0.3")
    p.add_argument("--staff", type=int, default=50, help="agents with the console open")
    p.add_argument("--ses-rate", type=float, default=14.0, help="SES sending rate (a new production account)")
    p.add_argument("--ses-daily", type=float, default=50_000, help="SES 24-hour sending quota")
    p.add_argument("--sms-mps", type=float, default=3.0, help="SMS parts/s of the number (toll-free: 3)")
    p.add_argument("--sms-spend", type=float, default=1.0, help="SMS monthly spending quota, USD")
    p.add_argument("--sms-price", type=float, default=0.00581, help="USD per SMS part")
    p.add_argument("--contact-rps", type=float, default=5.0, help="the stack's POST /contact throttle")
    p.add_argument("--stage-rps", type=float, default=50.0, help="the stack's API stage throttle")
    p.add_argument("--lambda-concurrency", type=float, default=1000)
    p.add_argument("--sfn-start-rps", type=float, default=300, help="StartExecution refill rate (us-east-1)")
    p.add_argument("--sfn-transition-rps", type=float, default=5000, help="StateTransition refill rate")
    p.add_argument(
        "--transition-spread", type=float, default=3.0, help="how many peaks' worth the transitions spread over"
    )
    p.add_argument("--open-executions", type=float, default=1_000_000, help="open Standard executions per account")
    p.add_argument("--execution-hours", type=float, default=24.0, help="average lifetime of a clock")
    p.add_argument("--table-wcu", type=float, default=40_000, help="on-demand table maximum")
    p.add_argument("--busiest-queue-share", type=float, default=0.6, help="share of contacts in the busiest queue")
    p.add_argument("--noisy-sender-rps", type=float, default=5.0, help="one sender's submissions/s (capped by API GW)")
    p.add_argument("--log-events-rps", type=float, default=5000, help="CloudWatch Logs events/s for the functions")
    main(p.parse_args())
