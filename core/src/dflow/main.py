"""pydflow's ``dflow.main``: the ``dflow`` command is :mod:`dflow.cli`."""

from __future__ import annotations

from ._compat import module_getattr
from .cli import main

__all__ = ["main"]

_INSTEAD = "run the `dflow` command (or dflow.cli.main(argv)); its helpers are internal"
__getattr__ = module_getattr(
    __name__,
    refused={
        n: _INSTEAD
        for n in ("format_print_table", "format_time_delta", "main_parser", "parse_args")
    },
)
