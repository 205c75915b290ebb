"""Exceptions an OP raises to tell the engine how its failure should be treated."""

from __future__ import annotations


class TransientError(Exception):
    """A failure worth retrying (exit code 1; ``retry_on_transient_error`` retries it)."""


class FatalError(Exception):
    """A failure that retrying cannot fix (exit code 2; never retried)."""


class SignatureError(TypeError):
    """An OP's inputs or outputs do not match its declared signs.

    The message names the OP, the input or output, the expected and the actual type.
    """
