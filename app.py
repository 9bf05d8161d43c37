"""replydesk's Chalice app: routes and event handlers, wiring only."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from chalice.app import (
    BadRequestError,
    Chalice,
    ChaliceViewError,
    CloudWatchEvent,
    ConvertToMiddleware,
    IAMAuthorizer,
    NotFoundError,
    Rate,
    Response,
    SQSEvent,
)

from chalicelib import pages
from chalicelib.config import deploy_names
from chalicelib.errors import NotFound, PayloadTooLarge, ValidationError
from chalicelib.observability import logger, metrics

NAMES = deploy_names()

app = Chalice(app_name="replydesk")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)), "all")
app.register_middleware(ConvertToMiddleware(metrics.log_metrics), "all")

INTAKE_PROCESSOR = BatchProcessor(event_type=EventType.SQS)
EVENTS_PROCESSOR = BatchProcessor(event_type=EventType.SQS)


class PayloadTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


def _view_error(exc: Exception) -> ChaliceViewError:
    """The one translation from domain errors to HTTP errors."""
    if isinstance(exc, PayloadTooLarge):
        return PayloadTooLargeError(str(exc))
    if isinstance(exc, ValidationError):
        return BadRequestError(str(exc))
    if isinstance(exc, NotFound):
        return NotFoundError(str(exc))
    return ChaliceViewError("internal error")


@app.route("/", methods=["GET"])
def contact_page() -> Response:
    return Response(
        body=pages.contact_page(),
        status_code=200,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"},
    )


@app.route("/contact", methods=["POST"], content_types=["application/json", "application/x-www-form-urlencoded"])
def submit_contact() -> Response:
    request = app.current_request
    assert request is not None  # Chalice sets it for every HTTP invocation
    body = request.raw_body if isinstance(request.raw_body, bytes) else (request.raw_body or "").encode()
    try:
        accepted = pages.submit(body, request.headers.get("content-type", ""))
    except (ValidationError, NotFound) as exc:
        raise _view_error(exc) from exc
    return pages.accepted_response(accepted, request.headers.get("accept", ""))


# Staff and operator API. IAM (SigV4) until the staff console with Cognito lands; Chalice's local
# server does not check authorizers, which is why `make run` binds to 127.0.0.1 only.
STAFF_AUTH = IAMAuthorizer()


@app.route("/conversations/{conversation_id}", methods=["GET"], authorizer=STAFF_AUTH)
def get_conversation(conversation_id: str) -> dict[str, Any]:
    try:
        return pages.conversation_view(conversation_id)
    except NotFound as exc:
        raise _view_error(exc) from exc


@app.route(
    "/conversations/{conversation_id}/reply",
    methods=["POST"],
    authorizer=STAFF_AUTH,
    content_types=["application/json"],
)
def reply_to_conversation(conversation_id: str) -> dict[str, Any]:
    request = app.current_request
    assert request is not None
    body = request.json_body if isinstance(request.json_body, dict) else {}
    try:
        return pages.staff_reply(conversation_id, body)
    except (ValidationError, NotFound) as exc:
        raise _view_error(exc) from exc


@app.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return pages.health()


@app.on_sqs_message(queue=NAMES.intake_queue, batch_size=10, name="process_intake")
def process_intake(event: SQSEvent) -> PartialItemFailureResponse:
    from chalicelib.pipeline import intake_record_handler, register_lambda_context

    register_lambda_context(event.context)
    return process_partial_response(
        event=event.to_dict(),
        record_handler=intake_record_handler(),
        processor=INTAKE_PROCESSOR,
        context=event.context,  # type: ignore[arg-type]
    )


@app.on_sqs_message(queue=NAMES.events_queue, batch_size=10, name="process_events")
def process_events(event: SQSEvent) -> PartialItemFailureResponse:
    from chalicelib.events import events_record_handler

    return process_partial_response(
        event=event.to_dict(),
        record_handler=events_record_handler(),
        processor=EVENTS_PROCESSOR,
        context=event.context,  # type: ignore[arg-type]
    )


# The backlog gauge (open conversations, oldest waiting, overdue) per queue; locally the harness's
# scheduler (local/scheduler.py) runs it on this rate as the pump runs the queue handlers.
@app.schedule(Rate(1, unit=Rate.MINUTES), name="emit_backlog")
def emit_backlog(event: CloudWatchEvent) -> dict[str, int]:
    from chalicelib.ops.backlog import scheduled_backlog

    return scheduled_backlog()
