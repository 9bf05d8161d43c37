"""The one Logger and Metrics of replydesk; metric names live in chalicelib.metrics."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

# Never log bodies, subjects, addresses, phone numbers or names: ids, lengths and reasons only.
SERVICE = "replydesk"
NAMESPACE = "replydesk"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
