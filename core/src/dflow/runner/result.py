"""``OPResult``: how one run of an OP ended, and the exit code a container reports for it."""

from __future__ import annotations

import dataclasses
import traceback as tb_module

from ..python.errors import FatalError, SignatureError, TransientError

#: exit codes of a container or job: 1 is retried by retry_on_transient_error, 2 never. Any
#: other exception exits 3, so a plain bug is not retried as if it were transient (pydflow
#: exited 1 for every exception, which made retry_on_transient_error retry bugs too).
EXIT_OK, EXIT_TRANSIENT, EXIT_FATAL, EXIT_ERROR = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class OPResult:
    """The outcome of ``run_op``.

    ``error`` is None on success, else "transient", "fatal", "type" (inputs or outputs do not
    match the signs) or "error" (any other exception). ``exit_code`` is 0, 1 for transient,
    2 for fatal and 3 for anything else.
    """

    phase: str
    error: str | None
    message: str
    exit_code: int
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.phase == "Succeeded"


SUCCEEDED = OPResult("Succeeded", None, "", EXIT_OK)


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, FatalError):
        return "fatal"
    if isinstance(exc, TransientError):
        return "transient"
    if isinstance(exc, SignatureError):
        return "type"
    return "error"


def exit_code_of(kind: str) -> int:
    return {"fatal": EXIT_FATAL, "transient": EXIT_TRANSIENT}.get(kind, EXIT_ERROR)


def exception_message(exc: BaseException) -> str:
    if isinstance(exc, SignatureError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure(exc: BaseException, prefix: str = "") -> OPResult:
    """The result of a run that raised ``exc``."""
    kind = error_kind(exc)
    trace = "".join(tb_module.format_exception(type(exc), exc, exc.__traceback__))
    return OPResult("Failed", kind, prefix + exception_message(exc), exit_code_of(kind), trace)
