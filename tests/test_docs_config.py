"""docs/configuration.md is generated from the config classes, and says something of every key."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
from dflow import docs_config
from dflow.config import config, s3_config
from dflow.config_keys import KEYS
from dflow.settings import SECTIONS

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def _sections(text: str) -> dict[str, set[str]]:
    """Heading -> the keys of its table rows (the first column)."""
    out: dict[str, set[str]] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            out.setdefault(heading, set())
        m = re.match(r"^\| `([^`]+)` \|", line)
        if m:
            out[heading].add(m.group(1))
    return out


def test_committed_reference_is_up_to_date():
    assert DOC.read_text() == docs_config.render(), (
        "docs/configuration.md is out of date: run `python -m dflow.docs_config --write` "
        "and commit it"
    )


def test_reference_covers_every_key():
    sections = _sections(DOC.read_text())
    missing = []
    tables = {"config": "`config` keys", "s3_config": "`s3_config` keys"}
    for table, heading in tables.items():
        documented = sections.get(heading, set())
        current = config if table == "config" else s3_config
        missing += [f"{table}[{k!r}]" for k in current if k not in documented]
    for key in KEYS:
        heading = tables.get(key.table, "Other environment variables")
        if key.name not in sections.get(heading, set()):
            missing.append(key.label)
        if key.env and f"`{key.env}`" not in DOC.read_text():
            missing.append(key.env)
    plugins = list(docs_config._plugins())
    assert {name for kind, name, _ in plugins} >= {"local", "argo", "minio", "oss", "gcs"}
    for kind, name, record in plugins:
        heading = f"`[{SECTIONS[kind]}.{name}]`"
        documented = sections.get(heading)
        if documented is None:
            missing.append(heading)
            continue
        missing += [
            f"{heading} {f.name}"
            for f in attrs.fields(record.config_type)
            if f.name not in documented
        ]
    top = sections.get("The configuration file", set())
    missing += [f"dflow.toml {f}" for f in ("engine", "storage", "executor") if f not in top]
    assert missing == [], f"{len(missing)} keys missing from docs/configuration.md: {missing}"


def test_check_mode_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "pyproject.toml").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "configuration.md").write_text("# stale\n")
    monkeypatch.setattr(docs_config, "_repo_root", lambda: tmp_path)
    assert docs_config.main(["--check"]) == 1
    assert "run python -m dflow.docs_config --write" in capsys.readouterr().err
    assert docs_config.main(["--write"]) == 0
    assert docs_config.main(["--check"]) == 0
