"""Plaintext credentials headed for a manifest: the one rule for what looks like one.

A renderer that writes environment variables into an Argo manifest (a container's ``env``, a
DPDispatcher job's ``envs``, a Slurm job script) calls :func:`check_plain_envs` on them: a
plain value under a credential-like name (``*_KEY``, ``*_SECRET``, ``*_TOKEN``, ``PASSWORD``,
...) or a value shaped like a key (a PEM private key, an AWS access key, a GitHub or Slack
token, a JWT) is refused with how to pass it instead. References (``Secret``, ``valueFrom``)
and ``{{...}}`` placeholders are not values and pass. ``docs/secrets.md`` shows each way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: names of variables that hold credentials: a word of the name (split at ``_``, ``-``, ``.``)
_SECRET_WORDS = frozenset(
    {"SECRET", "SECRETS", "TOKEN", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE",
     "CREDENTIAL", "CREDENTIALS", "APIKEY", "PRIVATE"}
)  # fmt: skip
#: ``*_KEY`` names are credentials, except these (public or identifying, not secret)
_NOT_SECRET_KEY = re.compile(r"(^|_)(PUBLIC|SORT|PARTITION|PRIMARY|FOREIGN|HOST|SSH_HOST)_KEY$")
_VALUE_SHAPES = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"^(AKIA|ASIA)[0-9A-Z]{16}$")),
    ("a GitHub token", re.compile(r"^(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})$")),
    ("a Slack token", re.compile(r"^xox[abposr]-[A-Za-z0-9-]{10,}$")),
    ("a JSON Web Token", re.compile(r"^eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}$")),
)

HOW = (
    "pass it as a reference instead: on Argo envs={{'{name}': Secret('<value>')}} (dflow "
    "creates a Kubernetes Secret) or Secret(name='<existing secret>', key='<key>'); for an "
    "executor's SSH login password_secret= / private_key_secret=; or set the variable on the "
    "machine that runs the job (its shell profile, the Slurm/DPDispatcher environment). See "
    "docs/secrets.md"
)


def credential_reason(name: Any, value: Any) -> str | None:
    """Why ``name=value`` looks like a plaintext credential, or None."""
    if value is None or not isinstance(value, str | int | float) or isinstance(value, bool):
        return None  # a Secret, a valueFrom dict: references, not values
    text = str(value)
    if not text or text.startswith("{{"):
        return None
    for what, shape in _VALUE_SHAPES:
        if shape.search(text):
            return f"its value looks like {what}"
    upper = str(name).upper()
    words = set(re.split(r"[_.\-]", upper))
    if words & _SECRET_WORDS or upper.endswith("PASSWORD"):
        return "its name says it is a credential"
    if (upper.endswith("_KEY") or upper == "KEY") and not _NOT_SECRET_KEY.search(upper):
        return "its name says it is a credential (*_KEY)"
    return None


def check_plain_envs(envs: Mapping[str, Any] | None, where: str) -> None:
    """Raise ValueError when a variable of ``envs`` would put a credential into ``where``
    (e.g. "the Argo manifest of template 'x'") in plaintext."""
    for name, value in (envs or {}).items():
        reason = credential_reason(name, value)
        if reason is not None:
            raise ValueError(
                f"environment variable {name!r} would be written into {where} in plaintext "
                f"({reason}): {HOW.format(name=name)}"
            )


__all__ = ["check_plain_envs", "credential_reason"]
