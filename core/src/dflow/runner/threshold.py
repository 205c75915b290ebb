"""The success threshold of a fan-out (``continue_on_num_success`` / ``continue_on_success_ratio``).

One rule for both engines: the local engine calls :func:`required`; on Argo the fan-out's check
step runs this file's source as its script (:func:`main` reads the items' success tags from the
environment), since it runs on the util image without dflow. Standard library only, Python 3.7+.
"""

from __future__ import annotations

import json
import os
import sys


def required(
    total: int, num: float | str | None = None, ratio: float | str | None = None
) -> float | None:
    """How many of ``total`` items must succeed: ``num`` (a count), else ``ratio * total``;
    None when the step sets neither (no threshold: any failed item fails it)."""
    if num is not None:
        return int(float(num))
    if ratio is not None:
        return float(ratio) * total
    return None


def main() -> int:
    """The check step: exit 0 when enough of the fan-out's items succeeded, else 1."""
    tags = json.loads(os.environ["DFLOW_TAGS"] or "[]")
    if isinstance(tags, str):
        tags = [tags]
    ok = sum(1 for t in tags if str(t).strip().lower() == "true")
    total = int(os.environ.get("DFLOW_TOTAL") or len(tags))
    value = os.environ["DFLOW_THRESHOLD"]
    ratio = os.environ["DFLOW_MODE"] == "ratio"
    need = required(total, None if ratio else value, value if ratio else None)
    assert need is not None
    print(f"{ok} of {total} items succeeded (need {need:g})")
    return 0 if ok >= need else 1


if __name__ == "__main__":
    sys.exit(main())
