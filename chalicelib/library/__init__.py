"""The response template library: versioned templates in DynamoDB, sandboxed rendering, seeding, offers, ratings."""

from __future__ import annotations
