"""``python -m dflow``: the ``dflow`` command."""

from __future__ import annotations

import sys

from dflow.cli import main

if __name__ == "__main__":  # importing dflow.__main__ (pydflow scripts may) runs nothing
    sys.exit(main())
