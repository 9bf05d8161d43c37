"""replydesk's Chalice app: routes and event handlers, wiring only."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from chalice import (
    BadRequestError,
    Chalice,
    ChaliceViewError,
    ConvertToMiddleware,
    NotFoundError,
    Response,
)
from chalice.app import SQSEvent

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
    return Response(body=pages.contact_page(), status_code=200,
                    headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"})


@app.route("/contact", methods=["POST"],
           content_types=["application/json", "application/x-www-form-urlencoded"])
def submit_contact() -> Response:
    request = app.current_request
    try:
        accepted = pages.submit(request.raw_body or b"", request.headers.get("content-type", ""))
    except (ValidationError, NotFound) as exc:
        raise _view_error(exc) from exc
    return pages.accepted_response(accepted, request.headers.get("accept", ""))


@app.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return pages.health()


@app.on_sqs_message(queue=NAMES.intake_queue, batch_size=10, name="process_intake")
def process_intake(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.pipeline import intake_record_handler

    return process_partial_response(event=event.to_dict(), record_handler=intake_record_handler(),
                                    processor=INTAKE_PROCESSOR, context=event.context)


@app.on_sqs_message(queue=NAMES.events_queue, batch_size=10, name="process_events")
def process_events(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.events import events_record_handler

    return process_partial_response(event=event.to_dict(), record_handler=events_record_handler(),
                                    processor=EVENTS_PROCESSOR, context=event.context)
