"""The jsonl dataset and the jsonl.generic task (uio.modalities.jsonl)."""

from __future__ import annotations

import json
import pickle
import random
import warnings
from pathlib import Path

import pytest
from pydantic import ValidationError

from uio.modalities.jsonl import (
    GENERIC_TASK,
    JsonlConfig,
    ManifestError,
    build_generic,
    build_jsonl,
    read_manifest,
)
from uio.modalities.jsonl import plugin as jsonl_plugin
from uio.plugins import TaskExample
from uio.plugins.registry import load_registry

EXAMPLE_MANIFEST = Path(__file__).resolve().parents[1] / "examples" / "jsonl_qa" / "train.jsonl"


def write(path: Path, lines: list) -> Path:
    """A manifest of JSON values (dicts, ...) or raw strings, one a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def generic(i: int, task: str = "add") -> dict:
    return {"task": task, "input": {"text": f"q{i}"}, "target": {"text": f"a{i}"}}


def test_generic_form(tmp_path: Path) -> None:
    path = write(tmp_path / "data" / "train.jsonl", [
        generic(0),
        {"task": "pair", "input": [["image", "a.png"], ["image", "b.png"], ["text", "same?"]],
         "target": {"text": "no"}, "id": "pair-1"},
        {"task": "caption_me", "target": {"text": "a cat"}},
    ])
    examples = build_jsonl(JsonlConfig(path=str(path), heldout_fraction=0.0), "train", 0)
    assert [e["task"] for e in examples] == [GENERIC_TASK] * 3
    assert [e["task_name"] for e in examples] == ["add", "pair", "caption_me"]
    assert [e["group"] for e in examples] == ["add", "pair", "caption_me"]
    assert [e["id"] for e in examples] == ["train.jsonl:1", "pair-1", "train.jsonl:3"]
    built = [build_generic(e, random.Random(0)) for e in examples]
    assert all(isinstance(b, TaskExample) for b in built)
    assert built[0].inputs == [("text", "q0")] and built[0].target == ("text", "a0")
    assert built[1].inputs == [("image", "a.png"), ("image", "b.png"), ("text", "same?")]
    assert built[2].inputs == [] and built[2].target == ("text", "a cat")


def test_flat_form_and_path_info(tmp_path: Path) -> None:
    flat = {
        "task": "scene.count",
        "scene": "a small red circle at top left.",
        "query": {"attribute": "color", "value": "red"},
        "answer": "one",
    }
    path = write(tmp_path / "sub" / "m.jsonl", [flat, {"task": "my.task", "file": "img/x.png"}])
    examples = build_jsonl({"path": str(path), "heldout_fraction": 0.0}, "train", 0)
    assert examples[0] == {
        **flat,
        "id": "m.jsonl:1",
        "_base_dir": str((tmp_path / "sub").resolve()),
        "_source": f"{path}:1",
    }
    # Relative file paths stay as written; _base_dir is what they resolve against.
    base = Path(examples[1]["_base_dir"])
    assert examples[1]["file"] == "img/x.png"
    assert base / examples[1]["file"] == (tmp_path / "sub" / "img" / "x.png").resolve()


def test_relative_manifest_path_is_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "d" / "train.jsonl", [generic(1)])
    monkeypatch.chdir(tmp_path)
    (example,) = build_jsonl(JsonlConfig(path="d/train.jsonl", heldout_fraction=0.0), "train", 0)
    assert example["_base_dir"] == str((tmp_path / "d").resolve())


def test_heldout_split_is_stable_and_disjoint(tmp_path: Path) -> None:
    lines = [generic(i, "add" if i % 2 else "rev") for i in range(400)]
    path = write(tmp_path / "train.jsonl", lines)
    options = JsonlConfig(path=str(path), heldout_fraction=0.25)
    train = build_jsonl(options, "train", 0)
    held = build_jsonl(options, "heldout", 0)
    assert build_jsonl(options, "heldout", 1) == held, "the split must not depend on the seed"
    assert len(train) + len(held) == 400
    assert 60 <= len(held) <= 140
    assert not {e["id"] for e in train} & {e["id"] for e in held}

    # Inserting a line above must not move the others between splits (hashing
    # content, not line numbers).
    shifted = write(tmp_path / "shifted.jsonl", [generic(999), *lines])
    held_after = build_jsonl(options.model_copy(update={"path": str(shifted)}), "heldout", 0)
    inputs = {e["input"]["text"] for e in held}
    assert inputs <= {e["input"]["text"] for e in held_after}

    # Identical lines land in the same split; lines with an id split by id.
    dup = write(tmp_path / "dup.jsonl", [generic(5)] * 30 + [{**generic(5), "id": f"k{i}"} for i in range(200)])
    dup_options = JsonlConfig(path=str(dup), heldout_fraction=0.5)
    dup_train = build_jsonl(dup_options, "train", 0)
    dup_held = build_jsonl(dup_options, "heldout", 0)
    plain = [e for e in dup_train + dup_held if not e["id"].startswith("k")]
    assert len(plain) == 30 and (plain[0] in dup_train) == all(e in dup_train for e in plain)
    keyed = [e for e in dup_held if e["id"].startswith("k")]
    assert 60 <= len(keyed) <= 140


def test_separate_heldout_file(tmp_path: Path) -> None:
    train_path = write(tmp_path / "train.jsonl", [generic(i) for i in range(5)])
    held_path = write(tmp_path / "dev.jsonl", [generic(i) for i in range(3)])
    options = JsonlConfig(path=str(train_path), heldout_path=str(held_path))
    assert len(build_jsonl(options, "train", 0)) == 5
    held = build_jsonl(options, "heldout", 0)
    assert [e["id"] for e in held] == ["dev.jsonl:1", "dev.jsonl:2", "dev.jsonl:3"]


def test_blank_lines_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(generic(0)).encode() + b"\n\n  \n"
                     + json.dumps(generic(1)).encode())
    manifest = read_manifest(path)
    assert [e["id"] for e in manifest.examples] == ["bom.jsonl:1", "bom.jsonl:4"]


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('["task", "x"]', "expected a JSON object"),
    ('{"input": {"text": "q"}, "target": {"text": "a"}}', 'no "task" key'),
    ('{"task": "t", "input": {"text": "q"}, "target": {"text": "a", "image": "b.png"}}',
     '"target" must map exactly one modality'),
    ('{"task": "t", "input": {"text": "q"}, "target": {}}', '"target" must map exactly one modality'),
    ('{"task": "t", "input": "q", "target": {"text": "a"}}', '"input" must map modality'),
    ('{"task": "t", "inputs": {"text": "q"}, "target": {"text": "a"}}', 'did you mean "input"'),
    ('{"task": "t", "input": {"Text": "q"}, "target": {"text": "a"}}', "not a modality name"),
    ('{"task": "t", "target": {"text": null}}', "is null"),
    ('{"task": "", "target": {"text": "a"}}', "non-empty string"),
    ('{"task": "My Task", "answer": "a"}', "not a task name"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_each_error_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "bad.jsonl", [generic(0), generic(1), line])
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: ") as info:
        build_jsonl(JsonlConfig(path=str(path)), "train", 0)
    assert message in str(info.value)
    assert isinstance(info.value, ManifestError) and info.value.line == 3
    assert info.value.path == path


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(json.dumps(generic(0)).encode() + b'\n{"task": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"latin\.jsonl:2: not UTF-8"):
        read_manifest(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.jsonl: manifest does not exist"):
        build_jsonl(JsonlConfig(path=str(tmp_path / "nope.jsonl")), "train", 0)
    with pytest.raises(ValueError, match="is a folder"):
        read_manifest(tmp_path)
    empty = write(tmp_path / "empty.jsonl", [""])
    with pytest.raises(ValueError, match=r"empty\.jsonl: no examples"):
        read_manifest(empty)
    held_missing = JsonlConfig(path=str(write(tmp_path / "ok.jsonl", [generic(0)])),
                               heldout_path=str(tmp_path / "dev.jsonl"))
    with pytest.raises(ValueError, match=r"dev\.jsonl: manifest does not exist"):
        build_jsonl(held_missing, "heldout", 0)


def test_skip_mode_counts_and_warns(tmp_path: Path) -> None:
    lines = [generic(i) for i in range(6)]
    lines[1], lines[3], lines[4] = "{oops", '{"input": {}}', "[1]"
    lines.append('{"task": "t", "target": {"a": 1, "b": 2}}')
    path = write(tmp_path / "mixed.jsonl", lines)
    with pytest.warns(UserWarning, match=r"skipped 4 bad line\(s\), kept 3") as record:
        manifest = read_manifest(path, skip_bad_examples=True)
    text = str(record[0].message)
    assert "mixed.jsonl:2: not valid JSON" in text and "mixed.jsonl:4: no \"task\" key" in text
    assert [e.line for e in manifest.skipped] == [2, 4, 5, 7]
    assert [e["id"] for e in manifest.examples] == ["mixed.jsonl:1", "mixed.jsonl:3", "mixed.jsonl:6"]
    with pytest.warns(UserWarning, match="skipped 4"):
        kept = build_jsonl(JsonlConfig(path=str(path), skip_bad_examples=True, heldout_fraction=0.0), "train", 0)
    assert len(kept) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when nothing is skipped
        read_manifest(write(tmp_path / "good.jsonl", [generic(0)]), skip_bad_examples=True)


def test_generic_task_rejects_malformed_record() -> None:
    with pytest.raises(ValueError, match=r"'x:1'.*\"target\" must map exactly one"):
        build_generic({"id": "x:1", "task": GENERIC_TASK, "target": "a"}, random.Random(0))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "path"),
        ({"path": ""}, "must not be empty"),
        ({"path": "a", "heldout_fraction": 1.0}, "heldout_fraction"),
        ({"path": "a", "skip_bad": True}, "skip_bad"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        JsonlConfig(**options)


def test_unknown_split(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [generic(0)])
    with pytest.raises(ValueError, match="no split 'test'"):
        build_jsonl(JsonlConfig(path=str(path)), "test", 0)


def test_plugin_and_example_manifest() -> None:
    registry = load_registry([("jsonl", jsonl_plugin)], use_entry_points=False, strict=True)
    spec = registry.dataset("jsonl")
    assert spec.config_model is JsonlConfig
    task = registry.task(GENERIC_TASK)
    assert task.target_modality is None and task.objectives is None
    pickle.loads(pickle.dumps(task.build))
    options = spec.config_model.model_validate({"path": str(EXAMPLE_MANIFEST)})
    train, held = spec.build(options, "train", 0), spec.build(options, "heldout", 0)
    assert len(train) + len(held) == 200 and 5 <= len(held) <= 40
    assert {e["group"] for e in train} == {"add", "reverse"}
    for example in train + held:
        built = task.build(example, random.Random(0))
        assert built.inputs[0][0] == "text" and built.target[0] == "text"
