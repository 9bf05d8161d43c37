"""Operator tooling that runs against a campaign stack: DLQ inspection and replay, resource names."""
