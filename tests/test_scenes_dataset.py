"""The scene_qa dataset and the scene.* tasks (uio.modalities.scenes)."""

from __future__ import annotations

import pickle
import random
import re
from collections import Counter

import pytest
from pydantic import ValidationError

from uio.modalities.scenes import (
    PHRASINGS,
    QUESTION_KINDS,
    SceneQAConfig,
    build_scene_qa,
    holdout_pairs,
    scene_tasks,
    train_pairs,
)
from uio.modalities.scenes import plugin as scenes_plugin
from uio.modalities.scenes.vision_config import VISION_TASKS
from uio.plugins import TaskExample
from uio.plugins.registry import load_registry

# Written out again here, not imported: the checks below must not share the
# generator's code, so that a bug there fails them.
COLORS = {"red", "green", "blue", "yellow", "purple", "orange"}
SHAPES = {"circle", "square", "triangle", "star", "heart", "diamond"}
ROW = {"top": 0, "middle": 1, "bottom": 2}
COL = {"left": 0, "center": 1, "right": 2}
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CLAUSE = re.compile(r"a (small|large) ([a-z]+) ([a-z]+) at (top|middle|bottom) (left|center|right)\.")

TRAIN_N, HELDOUT_N = 3000, 1000


@pytest.fixture(scope="module")
def train() -> list[dict]:
    return build_scene_qa(SceneQAConfig(train_examples=TRAIN_N), "train", 0)


@pytest.fixture(scope="module")
def heldout() -> list[dict]:
    return build_scene_qa(SceneQAConfig(heldout_examples=HELDOUT_N), "heldout", 0)


def parse(description: str) -> list[dict]:
    """Objects of a description, checking that it is exactly a list of clauses."""
    clauses = CLAUSE.findall(description)
    objects = [
        {"size": s, "color": c, "shape": sh, "row": ROW[r], "col": COL[k]}
        for s, c, sh, r, k in clauses
    ]
    rebuilt = " ".join(f"a {s} {c} {sh} at {r} {k}." for s, c, sh, r, k in clauses)
    assert rebuilt == description, f"irregular description: {description!r}"
    return objects


def find(reference: dict, objects: list[dict]) -> dict:
    hits = [o for o in objects if all(o[k] == v for k, v in reference.items())]
    assert len(hits) == 1, f"reference {reference} is ambiguous or dangling in {objects}"
    return hits[0]


def expected_answer(example: dict) -> str:
    objects = parse(example["scene"])
    query, task = example["query"], example["task"]
    if task == "scene.count":
        return NUMBERS[sum(o[query["attribute"]] == query["value"] for o in objects)]
    if task == "scene.relation":
        a, b = find(query["object"], objects), find(query["other"], objects)
        holds = {
            "left_of": a["col"] < b["col"],
            "right_of": a["col"] > b["col"],
            "above": a["row"] < b["row"],
            "below": a["row"] > b["row"],
        }[query["relation"]]
        return "yes" if holds else "no"
    if task == "scene.direction":
        a, b = find(query["object"], objects), find(query["other"], objects)
        vertical = {-1: ["above"], 0: [], 1: ["below"]}[(a["row"] > b["row"]) - (a["row"] < b["row"])]
        horizontal = {-1: ["left"], 0: [], 1: ["right"]}[(a["col"] > b["col"]) - (a["col"] < b["col"])]
        return " ".join(vertical + horizontal)
    target = find(query["object"], objects)
    if task == "scene.color":
        assert set(query["object"]) <= {"size", "shape"}
        return target["color"]
    if task == "scene.shape":
        assert set(query["object"]) <= {"size", "color"}
        return target["shape"]
    if task == "scene.where":
        rows, cols = ["top", "middle", "bottom"], ["left", "center", "right"]
        return f"{rows[target['row']]} {cols[target['col']]}"
    raise AssertionError(f"unexpected task {task}")


def pairs_of(example: dict) -> set[tuple[str, str]]:
    return {(o["color"], o["shape"]) for o in parse(example["scene"])}


# --------------------------------------------------------------------------- data


def test_deterministic_and_seeded_per_split() -> None:
    options = SceneQAConfig(train_examples=300, heldout_examples=200)
    state = random.getstate()
    first = build_scene_qa(options, "train", 7)
    assert random.getstate() == state, "the builder must not touch the global RNG"
    assert build_scene_qa(options, "train", 7) == first
    assert build_scene_qa(options, "train", 8) != first
    held = build_scene_qa(options, "heldout", 7)
    bigger = options.model_copy(update={"train_examples": 5000})
    assert build_scene_qa(bigger, "heldout", 7) == held
    assert [e["id"] for e in first] == [f"train-{i}" for i in range(300)]


def test_scenes_are_well_formed(train: list[dict], heldout: list[dict]) -> None:
    for example in train + heldout:
        objects = parse(example["scene"])
        assert 2 <= len(objects) <= 4
        assert len({(o["row"], o["col"]) for o in objects}) == len(objects), "cells must differ"
        assert all(o["color"] in COLORS and o["shape"] in SHAPES for o in objects)
        assert set(example) == {"task", "id", "scene", "query", "answer"}


def test_heldout_pairs_never_in_train(train: list[dict], heldout: list[dict]) -> None:
    held = holdout_pairs(0.2)
    assert len(held) == round(0.2 * 36)
    kept = set(train_pairs(0.2))
    assert {c for c, _ in kept} == COLORS and {s for _, s in kept} == SHAPES
    for example in train:
        assert not pairs_of(example) & held, example
    for example in heldout:
        assert pairs_of(example) & held, example


def test_heldout_questions_concern_an_unseen_pair(heldout: list[dict]) -> None:
    held = holdout_pairs(0.2)
    for example in heldout:
        if example["task"] == "scene.count":
            continue
        objects = parse(example["scene"])
        query = example["query"]
        named = [find(query["object"], objects)]
        if "other" in query:
            named.append(find(query["other"], objects))
        assert any((o["color"], o["shape"]) in held for o in named), example


def test_heldout_questions_about_any_object_when_asked() -> None:
    held = holdout_pairs(0.2)
    options = SceneQAConfig(heldout_examples=300, heldout_about_unseen=False)
    about_seen = 0
    for example in build_scene_qa(options, "heldout", 0):
        assert pairs_of(example) & held
        assert example["answer"] == expected_answer(example)
        if example["task"] in ("scene.color", "scene.shape", "scene.where"):
            target = find(example["query"]["object"], parse(example["scene"]))
            about_seen += (target["color"], target["shape"]) not in held
    assert about_seen > 50


def test_answers_match_an_independent_reading(train: list[dict], heldout: list[dict]) -> None:
    for example in train + heldout:
        assert example["answer"] == expected_answer(example), example


def test_kinds_are_balanced(train: list[dict], heldout: list[dict]) -> None:
    for data, n in ((train, TRAIN_N), (heldout, HELDOUT_N)):
        counts = Counter(e["task"] for e in data)
        assert set(counts) == set(QUESTION_KINDS)
        assert max(counts.values()) - min(counts.values()) <= 1
        assert sum(counts.values()) == n


def test_yes_no_balanced(train: list[dict], heldout: list[dict]) -> None:
    for data in (train, heldout):
        answers = [e["answer"] for e in data if e["task"] == "scene.relation"]
        assert set(answers) == {"yes", "no"}
        assert 0.4 <= answers.count("yes") / len(answers) <= 0.6


def test_directions_cover_all_eight(train: list[dict]) -> None:
    answers = Counter(e["answer"] for e in train if e["task"] == "scene.direction")
    assert set(answers) == {
        "above", "below", "left", "right", "above left", "above right", "below left", "below right",
    }


def majority_baselines(data: list[dict]) -> dict[str, float]:
    by_kind: dict[str, Counter] = {}
    for e in data:
        by_kind.setdefault(e["task"], Counter())[e["answer"]] += 1
    return {k: c.most_common(1)[0][1] / sum(c.values()) for k, c in sorted(by_kind.items())}


def test_majority_baseline_is_far_below_target(train: list[dict], heldout: list[dict]) -> None:
    for name, data in (("train", train), ("heldout", heldout)):
        baselines = majority_baselines(data)
        print(name, {k: round(v, 3) for k, v in baselines.items()})
        assert all(v < 0.6 for v in baselines.values()), baselines
        overall = sum(baselines.values()) / len(baselines)
        assert overall < 0.4


def test_describe_fraction_and_kinds() -> None:
    options = SceneQAConfig(
        train_examples=200, heldout_examples=50, describe_fraction=0.25,
        kinds=["scene.where", "scene.count"],
    )
    train = build_scene_qa(options, "train", 0)
    counts = Counter(e["task"] for e in train)
    assert counts == {"scene.describe": 50, "scene.where": 75, "scene.count": 75}
    for e in train:
        if e["task"] == "scene.describe":
            assert e["answer"] == e["scene"] and e["query"] == {}
            parse(e["scene"])
    held = build_scene_qa(options, "heldout", 0)
    assert {e["task"] for e in held} == {"scene.where", "scene.count"}


def test_object_count_bounds() -> None:
    options = SceneQAConfig(train_examples=100, heldout_examples=30, min_objects=5, max_objects=7)
    for split in ("train", "heldout"):
        for e in build_scene_qa(options, split, 1):
            assert 5 <= len(parse(e["scene"])) <= 7
            assert e["answer"] == expected_answer(e)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_objects": 4, "max_objects": 3}, "min_objects <= max_objects"),
        ({"max_objects": 10}, "<= 9"),
        ({"holdout_fraction": 0.0}, "holdout_fraction"),
        ({"holdout_fraction": 0.9}, "every colour and shape"),
        ({"holdout_fraction": 0.8, "max_objects": 9}, "lower max_objects"),
        ({"kinds": ["scene.colour"]}, "unknown question kind"),
        ({"kinds": []}, "at least one"),
        ({"kinds": ["scene.direction"], "min_objects": 1, "max_objects": 1}, "scene.direction questions need"),
        ({"describe_fraction": 1.5}, "describe_fraction"),
        ({"train_exmples": 5}, "train_exmples"),
    ],
)
def test_bad_options_are_rejected(options: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        SceneQAConfig(**options)


def test_unknown_split() -> None:
    with pytest.raises(ValueError, match="no split 'test'"):
        build_scene_qa(None, "test", 0)


# --------------------------------------------------------------------------- tasks


def test_every_task_builds_with_several_phrasings(train: list[dict]) -> None:
    tasks = {t.name: t for t in scene_tasks()}
    assert set(tasks) == set(QUESTION_KINDS) | {"scene.describe"}
    for kind in QUESTION_KINDS:
        spec = tasks[kind]
        assert spec.target_modality == "text" and spec.objectives == ["text.prefix_lm"]
        assert len(PHRASINGS[kind]) >= 3
        examples = [e for e in train if e["task"] == kind][:40]
        rng = random.Random(0)
        questions = set()
        for example in examples:
            built = spec.build(example, rng)
            assert isinstance(built, TaskExample)
            assert built.inputs[0] == ("text", example["scene"])
            assert built.inputs[1][0] == "text"
            assert built.target == ("text", example["answer"])
            questions.add(built.inputs[1][1])
        used = {
            template
            for template in PHRASINGS[kind]
            if any(_fits(template, q) for q in questions)
        }
        assert len(used) >= 3, (kind, used)


def _fits(template: str, question: str) -> bool:
    pattern = re.escape(template)
    pattern = re.sub(r"\\\{[a-z]+\\\}", "[a-z ]+", pattern)
    return re.fullmatch(pattern, question) is not None


def test_question_text_names_the_query() -> None:
    tasks = {t.name: t for t in scene_tasks()}
    example = {
        "id": "x",
        "task": "scene.relation",
        "scene": "a small red circle at top left. a large blue star at middle right.",
        "query": {
            "object": {"size": "small", "color": "red", "shape": "circle"},
            "relation": "left_of",
            "other": {"color": "blue", "shape": "star"},
        },
        "answer": "yes",
    }
    question = tasks["scene.relation"].build(example, random.Random(0)).inputs[1][1]
    assert "small red circle" in question and "left of" in question and "blue star" in question
    count = {**example, "task": "scene.count", "query": {"attribute": "shape", "value": "star"}}
    assert "stars" in tasks["scene.count"].build(count, random.Random(0)).inputs[1][1]


def test_ready_question_and_malformed_examples() -> None:
    spec = next(t for t in scene_tasks() if t.name == "scene.where")
    example = {"id": "m:3", "scene": "a small red circle at top left.", "answer": "top left"}
    built = spec.build({**example, "question": "where?"}, random.Random(0))
    assert built.inputs[1] == ("text", "where?")
    with pytest.raises(ValueError, match=r"'m:3'.*malformed query"):
        spec.build({**example, "query": {"thing": 1}}, random.Random(0))
    with pytest.raises(ValueError, match=r"'m:3'.*'answer' must be a string"):
        spec.build({**example, "question": "where?", "answer": 3}, random.Random(0))


def test_describe_task() -> None:
    spec = next(t for t in scene_tasks() if t.name == "scene.describe")
    assert spec.objectives is None
    built = spec.build({"scene": "a small red circle at top left."}, random.Random(0))
    assert built.inputs == [] and built.target == ("text", "a small red circle at top left.")


def test_plugin_registers_and_pickles() -> None:
    registry = load_registry([("scenes", scenes_plugin)], use_entry_points=False, strict=True)
    dataset = registry.dataset("scene_qa")
    assert dataset.config_model is SceneQAConfig and dataset.splits == ["train", "heldout"]
    assert set(registry.tasks) == set(QUESTION_KINDS) | {"scene.describe"} | set(VISION_TASKS)
    for spec in registry.tasks.values():
        pickle.loads(pickle.dumps(spec.build))
    options = dataset.config_model.model_validate({"train_examples": 5})
    assert len(dataset.build(options, "train", 0)) == 5


def test_unique_shapes_gives_each_object_its_own_shape():
    from uio.modalities.scenes import SceneQAConfig, build_scene_qa

    options = SceneQAConfig(train_examples=300, heldout_examples=100, unique_shapes=True)
    for split in ("train", "heldout"):
        for example in build_scene_qa(options, split, 0):
            shapes = [sentence.split()[3] for sentence in example["scene"].split(". ") if sentence]
            assert len(shapes) == len(set(shapes)), example["scene"]
    with pytest.raises(ValueError, match="unique_shapes needs max_objects <= 6"):
        SceneQAConfig(unique_shapes=True, max_objects=7, holdout_fraction=0.05)
