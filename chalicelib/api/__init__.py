"""The HTTP API: Blueprints per audience and the one translation from domain errors to HTTP errors."""
