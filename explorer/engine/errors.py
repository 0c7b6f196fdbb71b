"""The engine's errors, for the engine and its backends alike."""
from __future__ import annotations


class EngineError(RuntimeError):
    """A request the engine cannot carry out (unknown run, wrong state, a limit reached)."""


class NotAllowed(EngineError):
    """The acting owner may not do this to this run."""
