"""The columns of the analytics files: one definition for the export, the Glue tables and DuckDB."""

from __future__ import annotations

# (column, Glue/Athena type). The template's Glue tables list the same columns (a test checks it).
CONVERSATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("conversation_id", "string"),
    ("customer_id", "string"),
    ("channel", "string"),
    ("topic", "string"),
    ("language", "string"),
    ("urgency", "string"),
    ("sentiment", "string"),
    ("queue", "string"),
    ("status", "string"),
    ("created_at", "string"),
    ("updated_at", "string"),
    ("ack_sent_at", "string"),
    ("ack_seconds", "double"),
    ("first_response_at", "string"),
    ("first_response_seconds", "double"),
    ("resolved_at", "string"),
    ("resolution_seconds", "double"),
    ("first_response_business_seconds", "double"),
    ("resolution_business_seconds", "double"),
    ("first_response_due", "string"),
    ("resolution_due", "string"),
    ("breaches", "int"),
    ("breach_kinds", "array<string>"),
    ("inbound_count", "int"),
    ("callback_requested", "boolean"),
    ("retention_outcome", "string"),
    ("retention_offer", "string"),
    ("exported_at", "string"),
)

MESSAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("conversation_id", "string"),
    ("message_id", "string"),
    ("direction", "string"),
    ("channel", "string"),
    ("created_at", "string"),
    ("text_length", "int"),
    ("attachments", "int"),
    ("ack", "boolean"),
    ("suppressed_reason", "string"),
    ("template", "string"),
    ("sent_by", "string"),
    ("topic", "string"),
    ("language", "string"),
    ("urgency", "string"),
    ("exported_at", "string"),
    # Present only when the campaign sets analytics.include_bodies.
    ("subject", "string"),
    ("text", "string"),
)

TABLES = {"conversations": CONVERSATION_COLUMNS, "messages": MESSAGE_COLUMNS}
