"""The whole system on one machine: moto server, the template's resources, handlers, HTTP, SMTP."""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from chalicelib.config import load_campaign
from cli.template import merge_template
from local.alarms import AlarmEvaluator, SampleStore
from local.bootstrap import Bootstrap, Created, Resolver, stack_name
from local.emf import EmfForwarder
from local.emulator_process import EmulatorProcess
from local.pump import DEFAULT_CONCURRENCY, EventPump, mappings_for
from local.scheduler import Scheduler, schedules_for
from local.smtp import SesInbound, start_smtp

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("replydesk.local")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class DemoStaff:
    username: str
    password: str
    role: str
    name: str

    @property
    def email(self) -> str:
        return f"{self.username}@staff.replydesk.test"


# Known logins for the local stack only (printed by `make run`); never created on AWS.
DEMO_STAFF = (
    DemoStaff("agent", "Demo-agent-pass1", "agent", "Alex Agent"),
    DemoStaff("agent2", "Demo-agent2-pass1", "agent", "Blair Agent"),
    DemoStaff("supervisor", "Demo-supervisor-pass1", "supervisor", "Sam Supervisor"),
    DemoStaff("admin", "Demo-admin-pass1", "admin", "Ada Admin"),
)


@dataclass
class LocalStack:
    campaign_name: str = "demo"
    stage: str = "dev"
    region: str = "us-east-1"
    moto_port: int = 0
    api_port: int = 0
    smtp_port: int = 0
    phone_port: int = 0
    dashboard_port: int = 0
    pump_threads: bool = True
    # Concurrent batches per queue when the pump runs threads (local/pump.py DEFAULT_CONCURRENCY).
    pump_concurrency: int = DEFAULT_CONCURRENCY
    forward_metrics: bool = True
    # Another local stack's moto (`replydesk local --endpoint`): this campaign joins it instead of
    # starting one, so two campaigns share one emulator as they share an account and region.
    attach_to: str = ""
    env: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Created] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalStack:
        self._clients.clear()  # clients of an emulator this stack ran before would point at its port
        if self.attach_to:
            return self._attach()
        self.moto_port = self.moto_port or free_port()
        # moto's Step Functions call back into the server for service integrations through MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.moto_port)
        # The emulator runs in a process of its own, beside the handlers instead of under their
        # interpreter lock, with the tweaks that keep it fast over a long session (local/emulator.py:
        # a bounded registry, partition queries, transactions that back up only their items).
        self.moto: EmulatorProcess | None = EmulatorProcess(self.moto_port).start()
        self.endpoint = self.moto.endpoint
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        self.provision()
        self.load_app()
        return self

    def _attach(self) -> LocalStack:
        """Provision this campaign into a running emulator (its owner configured it) and serve it from here."""
        self.endpoint = self.attach_to.rstrip("/")
        self.moto_port = int(self.endpoint.rsplit(":", 1)[1])
        # Step Functions' service integrations call the emulator that runs them, which is the other stack's.
        os.environ["MOTO_PORT"] = str(self.moto_port)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.moto = None
        self.provision()
        self.load_app()
        return self

    def provision(self) -> None:
        """Create every resource of the campaign template and export the functions' environment."""
        base = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "REPLYDESK_CAMPAIGN": self.campaign_name,
            "REPLYDESK_STAGE": self.stage,
        }
        os.environ.update(base)
        self.campaign = load_campaign(self.campaign_name)
        self.template = merge_template(self.campaign, self.stage)
        boot = Bootstrap(self.endpoint, self.region)
        harness = {
            lid: f"{stack_name(self.campaign_name, self.stage)}-{lid}"
            for lid, res in self.template["Resources"].items()
            if "Type" not in res
        }
        self.resources = boot.create_all(self.template, extra_refs=harness)
        resolver = Resolver({}, self.region)
        resolver.created.update(self.resources)
        params = {k: v.get("Default") for k, v in self.template["Parameters"].items()}
        # Deploy passes these; locally the rating links are signed with a per-run secret and point at the API.
        self.api_port = self.api_port or free_port()
        params.update(CsatSecret=secrets.token_hex(32), PublicUrl=f"http://127.0.0.1:{self.api_port}")
        resolver.params.update(params)
        variables = self.template["Globals"]["Function"]["Environment"]["Variables"]
        self.env = {**base, **{k: str(resolver.resolve(v)) for k, v in variables.items()}}
        # moto serves a pool's keys under its own path, not Cognito's host; `iss` in moto's tokens is
        # still the AWS URL, so only this one setting differs from AWS.
        self.env["COGNITO_JWKS_URL"] = f"{self.endpoint}/{self.env['COGNITO_USER_POOL_ID']}/.well-known/jwks.json"
        os.environ.update(self.env)
        self._ses_setup()
        self._escalation_inbox()
        self.create_demo_staff()
        self.push_templates()

    def _ses_setup(self) -> None:
        ses = self.client("ses")
        # On AWS the domain is verified through DNS before the stack takes traffic.
        ses.verify_domain_identity(Domain=self.campaign.sender_email.split("@", 1)[1])
        ses.verify_email_identity(EmailAddress=self.campaign.sender_email)
        for kind in ("Bounce", "Complaint"):
            ses.set_identity_notification_topic(
                Identity=self.campaign.sender_email, NotificationType=kind, SnsTopic=self.env["SES_FEEDBACK_TOPIC_ARN"]
            )

    def push_templates(self) -> int:
        """Push templates/<campaign>/ into the campaign's template library (as `replydesk templates push` does)."""
        from chalicelib.config import load_settings
        from chalicelib.library.seed import push_seed
        from chalicelib.models import bind_models

        bind_models(load_settings(self.env))
        pushed = push_seed(self.campaign, ROOT / "templates" / self.campaign_name, author="local stack")
        return sum(p.changed for p in pushed)

    def _escalation_inbox(self) -> None:
        """Subscribe a queue to the escalation topic, as supervisors' email/SMS would be on AWS.

        Nothing consumes it: `replydesk local outbox` shows what arrived (local/outbox.py).
        """
        from local.outbox import ESCALATION_INBOX_SUFFIX

        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=f"replydesk-{self.campaign_name}-{self.stage}-{ESCALATION_INBOX_SUFFIX}")[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns").subscribe(TopicArn=self.env["ESCALATION_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)
        self.escalation_inbox_url = url

    def create_demo_staff(self) -> None:
        """One confirmed staff user per role with a known password, for `make run` and the tests."""
        idp = self.client("cognito-idp")
        pool = self.env["COGNITO_USER_POOL_ID"]
        for user in DEMO_STAFF:
            idp.admin_create_user(
                UserPoolId=pool,
                Username=user.username,
                UserAttributes=[
                    {"Name": "email", "Value": user.email},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": user.name},
                ],
                MessageAction="SUPPRESS",
            )
            idp.admin_set_user_password(UserPoolId=pool, Username=user.username, Password=user.password, Permanent=True)
            idp.admin_add_user_to_group(UserPoolId=pool, Username=user.username, GroupName=user.role)
        # Per-queue access (chalicelib/console/access.py): `agent` works every queue, `agent2` all but the
        # supervisors' escalation queue, so the demo shows an agent who does not see escalations.
        from chalicelib.console.access import QUEUE_GROUP_PREFIX

        escalation = {q.escalation_queue for q in self.campaign.queues.values() if q.escalation_queue}
        for queue in self.campaign.queues:
            group = QUEUE_GROUP_PREFIX + queue
            idp.create_group(UserPoolId=pool, GroupName=group, Description=f"Works the {queue} queue")
            for username in ("agent", *(() if queue in escalation else ("agent2",))):
                idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=group)

    def load_app(self) -> ModuleType:
        """Import app.py fresh against this stack's environment and start the pump, API and SMTP."""
        from chalicelib import aws, config, pipeline, runtime

        aws.clear_caches()
        config.get_campaign.cache_clear()
        runtime.get_runtime.cache_clear()
        pipeline.get_runtime.cache_clear()
        pipeline.intake_record_handler.cache_clear()
        sys.modules.pop("app", None)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        self.app_module = importlib.import_module("app")
        self.sqs = self.client("sqs")
        self.pump = EventPump(
            mappings_for(self.app_module, self.sqs, self.region),
            self.sqs,
            self.region,
            concurrency=self.pump_concurrency,
        )
        if self.pump_threads:
            self.pump.start()
        self.scheduler = Scheduler(schedules_for(self.app_module, self.region), self.region)
        # The values the EMF forwarder sends, kept for the percentile alarms moto cannot compute.
        self.metric_samples = SampleStore()
        # Its own alarms only: a second campaign in this emulator evaluates its own, from its own samples.
        own = f"{stack_name(self.campaign_name, self.stage)}-"
        self.alarms = AlarmEvaluator(self.client("cloudwatch"), samples=self.metric_samples, prefix=own)
        if self.pump_threads:
            self.scheduler.start()
            self.alarms.start()
        self.emf = EmfForwarder(self.client("cloudwatch"), self.metric_samples) if self.forward_metrics else None
        if self.emf is not None:
            self.emf.install()
        self._start_api()
        self._start_smtp()
        self._start_phone()
        self._start_dashboard()
        return self.app_module

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import create_local_server

        self.api_port = self.api_port or free_port()
        config = Config.create(
            chalice_stage=self.stage,
            app_name="replydesk",
            chalice_app=self.app_module.app,
            lambda_timeout=60,
            lambda_memory_size=512,
        )
        self.api_server = create_local_server(self.app_module.app, config, "127.0.0.1", self.api_port)
        self.api_thread = threading.Thread(target=self.api_server.serve_forever, name="api", daemon=True)
        self.api_thread.start()
        self.api_url = f"http://127.0.0.1:{self.api_port}"

    def _start_smtp(self) -> None:
        self.smtp_handler = SesInbound(
            s3=self.client("s3"),
            sns=self.client("sns"),
            bucket=self.env["RAW_BUCKET"],
            topic_arn=self.env["INBOUND_EMAIL_TOPIC_ARN"],
            recipients=list(self.campaign.inbound_addresses),
            domain=self.campaign.inbound_domain,
            ses=self.client("ses"),  # mail to another campaign in this emulator goes by its receipt rule
        )
        self.smtp = start_smtp(self.smtp_handler, self.smtp_port)
        self.smtp_port = self.smtp.port

    def _start_phone(self) -> None:
        from local.phone import PhoneSimulator

        self.phone = PhoneSimulator.for_stack(self, port=self.phone_port).start()
        self.phone_port = self.phone.port
        self.phone_url = self.phone.url

    def _start_dashboard(self) -> None:
        from local.dashboard import LocalDashboard

        self.dashboard = LocalDashboard(
            self.client("cloudwatch"), self.dashboard_name, port=self.dashboard_port, samples=self.metric_samples
        ).start()
        self.dashboard_port = self.dashboard.port
        self.dashboard_url = self.dashboard.url

    @property
    def dashboard_name(self) -> str:
        return f"replydesk-{self.campaign_name}-{self.stage}"

    def stop(self) -> None:
        for stop in (
            lambda: self.pump.stop(),
            lambda: self.scheduler.stop(),
            lambda: self.alarms.stop(),
            lambda: self.api_server.shutdown(),
            lambda: self.smtp.stop(),
            lambda: self.phone.stop(),
            lambda: self.dashboard.stop(),
            self._stop_emf,
            self._stop_moto,
        ):
            try:
                stop()
            except Exception:
                log.exception("stopping a local component failed")

    def _stop_moto(self) -> None:
        if self.moto is not None:  # an attached stack leaves the emulator to the stack that started it
            self.moto.stop()

    def _stop_emf(self) -> None:
        if self.emf is not None:
            self.emf.uninstall()

    # ------------------------------------------------------------------ helpers for tests and the CLI
    def client(self, service: str) -> Any:
        """A client of the emulator, one per service for the stack's life.

        Making a client loads its service model and the endpoint rules (tens of milliseconds each):
        tests ask for clients hundreds of times a run. boto3 clients are thread-safe; whoever hooks
        events onto one (a fault, a capture) uses a client of its own, not this one.
        """
        with self._clients_lock:
            if service not in self._clients:
                session: Any = boto3.session.Session()
                self._clients[service] = session.client(
                    service,
                    region_name=self.region,
                    endpoint_url=self.endpoint,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                )
            return self._clients[service]

    def _post(self, path: str, body: dict[str, Any]) -> None:
        req = urllib.request.Request(
            self.endpoint + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=10).read()

    def moto_data(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.endpoint + "/moto-api/data.json", timeout=30) as resp:
            data: dict[str, Any] = json.loads(resp.read())
        return data

    def describe(self) -> str:
        return "\n".join(
            [
                f"replydesk local stack: campaign {self.campaign_name!r}, stage {self.stage!r}",
                f"  contact page     {self.api_url}/",
                f"  API              {self.api_url}/contact  (POST)",
                f"  staff console    {self.api_url}/console/  (sign in with a staff login below)",
                f"  SMTP (inbound)   127.0.0.1:{self.smtp_port}  -> {', '.join(self.campaign.inbound_addresses)}",
                f"  phone simulator  {self.phone_url}/  (SMS to {self.campaign.sms.number})",
                f"  outbox           {self.endpoint}/moto-api/data.json  (sent mail: ses, SMS: sns)",
                "                   `replydesk local outbox` (one line per message; --full, --json)",
                "  escalations      a local inbox on the escalation topic, shown by the outbox",
                f"  moto endpoint    {self.endpoint}  (AWS_ENDPOINT_URL)",
                *(f"  staff login      {u.username} / {u.password}  ({u.role})" for u in DEMO_STAFF),
                f"  dashboard        {self.dashboard_url}/  (CloudWatch dashboard {self.dashboard_name}, from EMF)",
            ]
        )
