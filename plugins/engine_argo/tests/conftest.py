"""Fixtures of the Argo engine tests; makes the test-support modules importable."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    # --import-mode=importlib does not put test folders on sys.path; the support modules
    # (argo_schema, argo_server) have names unique to this plugin
    sys.path.insert(0, _HERE)
