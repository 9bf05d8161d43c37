"""A campaign's lifecycle: scaffold a new one, check it has every artefact a stack needs, retire it."""

from __future__ import annotations
