"""Artifact catalogs: write, read, rebuild path objects, and the empty-dir markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dflow import catalog


def _touch(root: Path, *names: str) -> None:
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_text(n)


def test_list_round_trip_ordered_by_int_order(tmp_path):
    _touch(tmp_path, "b.txt", "a.txt", "sub/c.txt")
    paths = [tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "sub/c.txt"]
    items = catalog.items_for(paths, tmp_path)
    assert items[2] == {"dflow_list_item": "sub/c.txt", "order": 2}
    # written in reverse, in two catalog files: the order field decides
    catalog.write_catalog(tmp_path, items[2:])
    catalog.write_catalog(tmp_path, items[:2][::-1])
    assert catalog.path_object(tmp_path) == paths
    assert [it["order"] for it in catalog.read_catalog(tmp_path)] == [0, 1, 2]


def test_catalog_file_format(tmp_path):
    path = catalog.write_catalog(tmp_path, [{"dflow_list_item": "a", "order": 0}])
    assert path.parent == tmp_path / ".dflow"
    assert json.loads(path.read_text()) == {"path_list": [{"dflow_list_item": "a", "order": 0}]}


def test_dict_and_nested_dict_round_trip(tmp_path):
    flat = {"x": tmp_path / "x.txt", "y": tmp_path / "d/y.txt"}
    catalog.write_catalog(tmp_path, catalog.items_for(flat, tmp_path))
    assert catalog.path_object(tmp_path) == flat

    nested_root = tmp_path / "nested"
    nested = {"a": {"b": nested_root / "1", "c": {"d": nested_root / "2"}}, "e": nested_root / "3"}
    items = catalog.items_for(nested, nested_root)
    assert {it["order"] for it in items} == {"a.b", "a.c.d", "e"}
    catalog.write_catalog(nested_root, items)
    assert catalog.path_object(nested_root) == nested


def test_single_path_and_no_catalog(tmp_path):
    assert catalog.path_object(tmp_path) == tmp_path  # no catalog: the artifact itself
    items = catalog.items_for(tmp_path / "only.txt", tmp_path)
    assert items == [{"dflow_list_item": "only.txt"}]
    catalog.write_catalog(tmp_path, items)
    assert catalog.path_object(tmp_path) == tmp_path / "only.txt"
    assert catalog.items_for("rel/x", tmp_path, order=4) == [
        {"dflow_list_item": "rel/x", "order": 4}
    ]


def test_set_items_are_sorted_and_none_skipped(tmp_path):
    items = catalog.items_for({"b", "a"}, tmp_path)
    assert items == [{"dflow_list_item": "a", "order": 0}, {"dflow_list_item": "b", "order": 1}]
    assert catalog.items_for(["a", None, "c"], tmp_path)[1] == {"dflow_list_item": "c", "order": 2}


def test_path_outside_base_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        catalog.items_for(Path("/elsewhere/x"), tmp_path)


def test_invalid_catalog_names_the_file(tmp_path):
    (tmp_path / ".dflow").mkdir()
    (tmp_path / ".dflow" / "broken").write_text("{not json")
    with pytest.raises(ValueError, match=r"artifact catalog .*broken is not valid JSON"):
        catalog.read_catalog(tmp_path)


def test_empty_dir_markers(tmp_path):
    (tmp_path / "empty/deeper").mkdir(parents=True)
    (tmp_path / "full").mkdir()
    (tmp_path / "full/f").write_text("x")
    assert catalog.mark_empty_dirs(tmp_path) == 1
    assert (tmp_path / "empty/deeper/.empty_dir").is_file()
    assert not (tmp_path / "full/.empty_dir").exists()
    assert catalog.remove_empty_dir_markers(tmp_path) == 1
    assert (tmp_path / "empty/deeper").is_dir() and not any((tmp_path / "empty/deeper").iterdir())


def test_config_defaults():
    assert catalog.catalog_dir_name() == ".dflow"
    assert catalog.detect_empty_dir() is True


def test_config_changes_the_catalog_dir_and_markers(tmp_path, monkeypatch):
    from dflow.config import config

    monkeypatch.setitem(config, "catalog_dir_name", ".cat")
    monkeypatch.setitem(config, "detect_empty_dir", False)
    path = catalog.write_catalog(tmp_path, [{"dflow_list_item": "a", "order": 0}])
    assert path.parent.name == ".cat"
    assert catalog.path_object(tmp_path) == [tmp_path / "a"]
    assert catalog.detect_empty_dir() is False
