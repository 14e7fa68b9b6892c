"""kzoo._results: the one writer of the benchmarks' JSON and markdown."""

import json
import os

from kzoo._results import markdown_path
from kzoo._results import write_json
from kzoo._results import write_markdown


def test_json_is_written_whole_in_a_new_folder(tmp_path):
    path = str(tmp_path / "new" / "r.json")
    assert write_json(path, {"b": 1, "a": "ç"}, sort_keys=True) == path
    text = open(path, encoding="utf-8").read()
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
    assert "\\u00e7" in text  # ASCII by default
    assert os.listdir(tmp_path / "new") == ["r.json"]  # no temporary left
    write_json(path, {"a": "ç"}, ensure_ascii=False)
    assert json.load(open(path, encoding="utf-8")) == {"a": "ç"}
    assert "ç" in open(path, encoding="utf-8").read()


def test_markdown_beside_the_json(tmp_path):
    md = markdown_path(str(tmp_path / "x" / "table.json"))
    assert md == str(tmp_path / "x" / "table.md")
    assert write_markdown(md, "| a |\n") == md
    assert open(md, encoding="utf-8").read() == "| a |\n"
