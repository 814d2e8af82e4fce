"""The ``sogen-soap`` command (also ``python -m sogen_soap``)."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
