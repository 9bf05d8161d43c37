"""replydesk's Chalice app: routes and event handlers, wiring only."""

from __future__ import annotations

import gc

# The cyclic collector is paused while the container's long-lived objects are made (chalicelib/coldstart.py);
# the end of this module freezes what importing made and turns it back on.
gc.disable()

import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, CloudWatchEvent, ConvertToMiddleware, Rate, Response, SQSEvent

from chalicelib.api.auth import auth_api
from chalicelib.api.brief import brief_api
from chalicelib.api.console import console_api
from chalicelib.api.console_page import console_page
from chalicelib.api.errors import http_errors
from chalicelib.api.gdpr import gdpr_api
from chalicelib.api.rating import rating_api
from chalicelib.api.templates import templates_api
from chalicelib.coldstart import settled
from chalicelib.config import deploy_names
from chalicelib.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

NAMES = deploy_names()

app = Chalice(app_name="replydesk")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)), "all")
app.register_middleware(ConvertToMiddleware(metrics.log_metrics), "all")

# Staff API: every route verifies the Cognito ID token in our code (chalicelib/api/staff.py), the same
# locally and on AWS; sign-in routes are public.
app.register_blueprint(auth_api, url_prefix="/api/auth")
app.register_blueprint(console_api, url_prefix="/api")
app.register_blueprint(templates_api, url_prefix="/api")
app.register_blueprint(rating_api)
app.register_blueprint(console_page)  # the staff console page and its assets under /console/
app.register_blueprint(gdpr_api, url_prefix="/api")
app.register_blueprint(brief_api, url_prefix="/api")

# What importing made (modules, classes, the routes) lives as long as the container: out of the cyclic
# collector's sight, so no later collection walks it again, during a cold start or a request.
gc.freeze()
gc.enable()


_processors = threading.local()


def batch_processor(queue: str) -> BatchProcessor:
    """One BatchProcessor per queue and thread, built on the first batch: every function imports app.py,
    and Powertools' batch utility (with the event classes it pulls in) is a large part of a cold start.

    A processor holds one batch's records and failures. Lambda runs one batch per container at a time;
    the local event pump runs several at once, one per poller thread, so each thread has its own.
    """
    by_queue: dict[str, BatchProcessor] | None = getattr(_processors, "by_queue", None)
    if by_queue is None:
        by_queue = _processors.by_queue = {}
    if queue not in by_queue:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

        by_queue[queue] = BatchProcessor(event_type=EventType.SQS)
    return by_queue[queue]


@app.route("/", methods=["GET"])
def contact_page() -> Response:
    from chalicelib import pages  # the public pages' modules: not imported by every other function (cold start)

    return Response(
        body=pages.contact_page(),
        status_code=200,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"},
    )


@app.route("/contact", methods=["POST"], content_types=["application/json", "application/x-www-form-urlencoded"])
def submit_contact() -> Response:
    from chalicelib import pages

    request = app.current_request
    assert request is not None  # Chalice sets it for every HTTP invocation
    body = request.raw_body if isinstance(request.raw_body, bytes) else (request.raw_body or "").encode()
    with http_errors():
        source_ip = str((request.context.get("identity") or {}).get("sourceIp") or "")
        accepted = pages.submit(
            body, request.headers.get("content-type", ""), source_ip, request.headers.get("accept-language", "")
        )
    return pages.accepted_response(accepted, request.headers.get("accept", ""))


@app.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    from chalicelib import pages

    return pages.health()


@settled
def intake_path() -> ModuleType:
    """The processing path's modules, imported on the intake function's first batch with the collector
    paused (chalicelib/coldstart.py)."""
    from chalicelib import pipeline

    return pipeline


@settled
def events_path() -> ModuleType:
    """The events path's modules, the same way."""
    from chalicelib import events

    return events


@app.on_sqs_message(queue=NAMES.intake_queue, batch_size=10, name="process_intake")
def process_intake(event: SQSEvent) -> PartialItemFailureResponse:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return process_partial_response(
        event=event.to_dict(),
        record_handler=intake_path().intake_record_handler(),
        processor=batch_processor("intake"),
        context=event.context,  # type: ignore[arg-type]
    )


@app.on_sqs_message(queue=NAMES.events_queue, batch_size=10, name="process_events")
def process_events(event: SQSEvent) -> PartialItemFailureResponse:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return process_partial_response(
        event=event.to_dict(),
        record_handler=events_path().events_record_handler(),
        processor=batch_processor("events"),
        context=event.context,  # type: ignore[arg-type]
    )


# The backlog gauge (open conversations, oldest waiting, overdue) per queue; locally the harness's
# scheduler (local/scheduler.py) runs it on this rate as the pump runs the queue handlers.
@app.schedule(Rate(1, unit=Rate.MINUTES), name="emit_backlog")
def emit_backlog(event: CloudWatchEvent) -> dict[str, int]:
    from chalicelib.ops.backlog import scheduled_backlog

    return scheduled_backlog()


# The console's queue counts, counted once a minute for every agent's poll (chalicelib/console/gauge.py).
@app.schedule(Rate(1, unit=Rate.MINUTES), name="refresh_queue_counts")
def refresh_queue_counts(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.console.gauge import scheduled_refresh

    return scheduled_refresh()


# Once a day: yesterday's (UTC) conversation and message metadata to the analytics bucket. A rate, not a
# cron: at any time of day yesterday is complete, a rerun rewrites the same partition, and the local
# scheduler runs it like the backlog gauge (the template test checks every schedule runs locally).
@app.schedule(Rate(1, unit=Rate.DAYS), name="export_analytics")
def export_analytics(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.analytics.export import export_yesterday

    return export_yesterday()
