"""``python -m dflow``: the ``dflow`` command."""

from __future__ import annotations

import sys

from dflow.cli import main

sys.exit(main())
