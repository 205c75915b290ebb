"""``[engines.local]`` settings, merged with pydflow's ``debug_*`` keys of ``dflow.config``.

A value set in the file section wins over the ``config`` dict's; unset (None) fields fall
back to ``config[...]`` read when a workflow is submitted, so ``set_config(debug_workdir=...)``
keeps its pydflow meaning.
"""

from __future__ import annotations

import os
from typing import Any

import attrs

COPY_METHODS = ("symlink", "link", "copy")


@attrs.frozen
class LocalEngineConfig:
    """Settings of the local engine (each None field falls back to ``dflow.config``).

    ``workdir``: root of workflow directories (``debug_workdir``);
    ``artifact_dir``: the local artifact store, relative to ``workdir`` (``debug_artifact_dir``);
    ``copy_method``: how input artifacts are placed in step workdirs (``debug_copy_method``);
    ``pool_workers``: warm worker processes / concurrent leaf steps (``debug_pool_workers``;
    None: the CPU count);
    ``failfast``: stop a fan-out at its first failed item (``debug_failfast``);
    ``detach``: run in a background process (``detach``);
    ``retry_nodes``: show a retried step as Argo does, a ``Retry`` node whose children are
    its attempts ``<step>(i)`` (off by default: a retried step is one ``Pod`` node with
    ``attempts``, which code written against earlier versions expects);
    ``echo_logs``: copy each step's output to the console as it is written, as pydflow's
    debug mode does (it stays in the step's ``log.txt`` either way).
    """

    workdir: str | None = None
    artifact_dir: str | None = None
    copy_method: str | None = None
    pool_workers: int | None = None
    failfast: bool | None = None
    detach: bool | None = None
    retry_nodes: bool = False
    echo_logs: bool = True


@attrs.frozen
class Resolved:
    """The effective settings of one submission or query."""

    workdir: str
    artifact_dir: str
    copy_method: str
    pool_workers: int
    failfast: bool
    detach: bool
    debug_s3: bool
    batch_size: int | None
    batch_interval: float
    retry_nodes: bool = False
    echo_logs: bool = True


def _config() -> dict[str, Any]:
    from dflow.config import config

    return config


def resolve(cfg: LocalEngineConfig | None) -> Resolved:
    """Merge the file section with ``dflow.config`` (read now, not at import)."""
    cfg = cfg or LocalEngineConfig()
    c = _config()

    def pick(field: str, key: str, default: Any) -> Any:
        value = getattr(cfg, field)
        if value is None:
            value = c.get(key, default)
        return default if value is None else value

    workdir = os.path.abspath(pick("workdir", "debug_workdir", "."))
    art = pick("artifact_dir", "debug_artifact_dir", ".")
    copy_method = pick("copy_method", "debug_copy_method", "symlink")
    if copy_method not in COPY_METHODS:
        raise ValueError(
            f"debug_copy_method={copy_method!r} is not valid: use one of {', '.join(COPY_METHODS)}"
        )
    workers = pick("pool_workers", "debug_pool_workers", None)
    if workers is None or int(workers) == -1:
        # -1 (pydflow: one per item) is capped at the CPU count for the warm pool
        workers = os.cpu_count() or 1
    return Resolved(
        workdir=workdir,
        artifact_dir=os.path.abspath(os.path.join(workdir, art)),
        copy_method=copy_method,
        pool_workers=max(1, int(workers)),
        failfast=bool(pick("failfast", "debug_failfast", False)),
        detach=bool(pick("detach", "detach", False)),
        debug_s3=bool(c.get("debug_s3", False)),
        batch_size=c.get("debug_batch_size"),
        batch_interval=float(c.get("debug_batch_interval") or 0),
        retry_nodes=bool(cfg.retry_nodes),
        echo_logs=bool(cfg.echo_logs),
    )
