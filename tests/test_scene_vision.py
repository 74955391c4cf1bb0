"""The scene_vision dataset and the scene vision tasks (uio.modalities.scenes.vision_*)."""

from __future__ import annotations

import pickle
import random
import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from uio.modalities.scenes import holdout_pairs
from uio.modalities.scenes import plugin as scenes_plugin
from uio.modalities.scenes.draw import pixel_boxes
from uio.modalities.scenes.render import BACKGROUND, COLOR_RGB
from uio.modalities.scenes.vision_config import VISION_TASKS, SceneVisionConfig
from uio.modalities.scenes.vision_dataset import build_scene_vision, task_counts
from uio.modalities.scenes.vision_tasks import PROMPTS, vision_tasks
from uio.plugins import TaskExample
from uio.plugins.registry import load_registry

# Written out here rather than imported, so that a bug in the generator fails them.
ROW = {"top": 0, "middle": 1, "bottom": 2}
COL = {"left": 0, "center": 1, "right": 2}
CLAUSE = re.compile(r"a (small|large) ([a-z]+) ([a-z]+) at (top|middle|bottom) (left|center|right)\.")
SPECS = {spec.name: spec for spec in vision_tasks()}


def parse(description: str) -> list[dict]:
    clauses = CLAUSE.findall(description)
    rebuilt = " ".join(f"a {s} {c} {sh} at {r} {k}." for s, c, sh, r, k in clauses)
    assert rebuilt == description, f"irregular description: {description!r}"
    return [
        {"size": s, "color": c, "shape": sh, "row": ROW[r], "col": COL[k]}
        for s, c, sh, r, k in clauses
    ]


def cell(row: int, col: int, size: int) -> tuple[int, int, int, int]:
    edges = [0, size // 3, 2 * size // 3, size]
    return edges[col], edges[row], edges[col + 1], edges[row + 1]


def pairs_of(example: dict) -> set[tuple[str, str]]:
    return {(o["color"], o["shape"]) for o in parse(example["scene"])}


@pytest.fixture(scope="module")
def train() -> list[dict]:
    return build_scene_vision(SceneVisionConfig(train_examples=700), "train", 0)


@pytest.fixture(scope="module")
def heldout() -> list[dict]:
    return build_scene_vision(SceneVisionConfig(heldout_examples=350), "heldout", 0)


def first(data: list[dict], task: str, n: int = 1) -> list[dict]:
    found = [e for e in data if e["task"] == task][:n]
    assert len(found) == n, task
    return found


# --------------------------------------------------------------------------- dataset


def test_deterministic_and_seeded_per_split() -> None:
    options = SceneVisionConfig(train_examples=200, heldout_examples=100)
    state = random.getstate()
    data = build_scene_vision(options, "train", 3)
    assert random.getstate() == state, "the builder must not touch the global RNG"
    assert build_scene_vision(options, "train", 3) == data
    assert build_scene_vision(options.model_dump(), "train", 3) == data
    assert build_scene_vision(options, "train", 4) != data
    held = build_scene_vision(options, "heldout", 3)
    bigger = options.model_copy(update={"train_examples": 900})
    assert build_scene_vision(bigger, "heldout", 3) == held
    assert [e["id"] for e in data] == [f"train-{i}" for i in range(200)]
    for example in data:
        assert (example["_image_size"], example["_target_size"], example["_render_seed"]) == (64, 32, 3)


def test_builds_render_the_same_pixels_every_time(train: list[dict]) -> None:
    for task in VISION_TASKS:
        example = first(train, task)[0]
        a = SPECS[task].build(example, random.Random(1))
        b = SPECS[task].build(dict(example), random.Random(1))
        for (ma, va), (mb, vb) in zip([*a.inputs, a.target], [*b.inputs, b.target], strict=True):
            assert ma == mb
            assert (va.tobytes() == vb.tobytes()) if isinstance(va, Image.Image) else va == vb
    detect = first(train, "scene.detect")[0]
    other = {**detect, "_render_seed": 99}
    image = SPECS["scene.detect"].build(detect, random.Random(0)).inputs[1][1]
    moved = SPECS["scene.detect"].build(other, random.Random(0)).inputs[1][1]
    assert image.tobytes() != moved.tobytes(), "the render seed moves the objects"


def test_heldout_pairs_never_in_train(train: list[dict], heldout: list[dict]) -> None:
    held = holdout_pairs(0.2)
    for example in train:
        assert not pairs_of(example) & held, example
    for example in heldout:
        assert pairs_of(example) & held, example


def test_heldout_single_object_tasks_concern_an_unseen_pair(heldout: list[dict]) -> None:
    held = holdout_pairs(0.2)
    for example in heldout:
        if "index" in example:
            obj = parse(example["scene"])[example["index"]]
            assert (obj["color"], obj["shape"]) in held, example
        if example["task"] == "scene.vqa" and "object" in example["query"]:
            hits = [
                o for o in parse(example["scene"])
                if all(o[k] == v for k, v in example["query"]["object"].items())
            ]
            assert len(hits) == 1 and (hits[0]["color"], hits[0]["shape"]) in held, example
    anywhere = SceneVisionConfig(heldout_examples=300, heldout_about_unseen=False)
    about_seen = 0
    for example in build_scene_vision(anywhere, "heldout", 0):
        if "index" in example:
            obj = parse(example["scene"])[example["index"]]
            about_seen += (obj["color"], obj["shape"]) not in held
    assert about_seen > 10, "with heldout_about_unseen=False some examples concern a seen pair"


def test_scenes_are_canonical_and_well_formed(train: list[dict], heldout: list[dict]) -> None:
    for example in train + heldout:
        objects = parse(example["scene"])
        assert 1 <= len(objects) <= 3
        cells = [3 * o["row"] + o["col"] for o in objects]
        assert cells == sorted(cells) and len(set(cells)) == len(cells), example["scene"]


def test_tasks_split_evenly_and_by_weight(train: list[dict]) -> None:
    counts = Counter(e["task"] for e in train)
    assert set(counts) == set(VISION_TASKS) and sum(counts.values()) == 700
    assert max(counts.values()) - min(counts.values()) <= 1
    kinds = Counter(e["group"] for e in train if e["task"] == "scene.vqa")
    assert set(kinds) == {"scene.vqa.count", "scene.vqa.shape", "scene.vqa.where"}
    assert max(kinds.values()) - min(kinds.values()) <= 1
    assert all("group" not in e for e in train if e["task"] != "scene.vqa")

    options = SceneVisionConfig(
        train_examples=100, tasks=["scene.detect", "scene.caption"], weights={"scene.detect": 3}
    )
    counts = Counter(e["task"] for e in build_scene_vision(options, "train", 0))
    assert counts == {"scene.detect": 75, "scene.caption": 25}
    assert task_counts({"a": 1.0, "b": 1.0, "c": 1.0}, 10) == {"a": 4, "b": 3, "c": 3}


def test_vqa_answers_match_the_scene(train: list[dict]) -> None:
    numbers = ["zero", "one", "two", "three"]
    for example in first(train, "scene.vqa", 60):
        objects, query = parse(example["scene"]), example["query"]
        if example["kind"] == "scene.count":
            expected = numbers[sum(o[query["attribute"]] == query["value"] for o in objects)]
        else:
            hits = [o for o in objects if all(o[k] == v for k, v in query["object"].items())]
            assert len(hits) == 1
            expected = (
                hits[0]["shape"] if example["kind"] == "scene.shape"
                else f"{list(ROW)[hits[0]['row']]} {list(COL)[hits[0]['col']]}"
            )
        assert example["answer"] == expected, example


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tasks": ["scene.paint"]}, "unknown task"),
        ({"tasks": []}, "at least one task"),
        ({"weights": {"scene.detect": 0}}, "must be positive"),
        ({"tasks": ["scene.caption"], "weights": {"scene.detect": 1}}, "not generated"),
        ({"vqa_kinds": ["scene.colour"]}, "unknown question kind"),
        ({"vqa_kinds": ["scene.relation"]}, "needs max_objects >= 2"),
        ({"image_size": 16}, "image_size"),
        ({"min_objects": 3, "max_objects": 2}, "min_objects <= max_objects"),
        ({"unique_shapes": True, "max_objects": 7}, "unique_shapes needs"),
        ({"train_exmples": 3}, "train_exmples"),
    ],
)
def test_bad_options_are_rejected(options: dict, message: str) -> None:
    if options.get("vqa_kinds") == ["scene.relation"]:
        options = {**options, "min_objects": 1, "max_objects": 1}
    with pytest.raises(ValidationError, match=re.escape(message)):
        SceneVisionConfig(**options)


def test_unknown_split() -> None:
    with pytest.raises(ValueError, match="scene_vision has no split 'test'"):
        build_scene_vision(None, "test", 0)


# --------------------------------------------------------------------------- tasks


def built(example: dict, seed: int = 0) -> TaskExample:
    result = SPECS[example["task"]].build(example, random.Random(seed))
    assert isinstance(result, TaskExample)
    return result


def check_image(value: object, size: int) -> np.ndarray:
    assert isinstance(value, Image.Image) and value.mode == "RGB" and value.size == (size, size)
    return np.asarray(value)


def check_box_inside(value: dict, obj: dict, array: np.ndarray) -> None:
    size = array.shape[0]
    assert value["size"] == [size, size]
    assert len(value["boxes"]) == 1
    x1, y1, x2, y2 = value["boxes"][0]
    cx1, cy1, cx2, cy2 = cell(obj["row"], obj["col"], size)
    assert cx1 <= x1 < x2 <= cx2 and cy1 <= y1 < y2 <= cy2
    region = array[y1:y2, x1:x2]
    assert (region == COLOR_RGB[obj["color"]]).all(axis=-1).any(), obj


def test_caption_and_detect_follow_canonical_order(train: list[dict]) -> None:
    for example in first(train, "scene.caption", 20):
        result = built(example)
        assert [m for m, _ in result.inputs] == ["text", "image"]
        check_image(result.inputs[1][1], 64)
        assert result.target == ("text", example["scene"])
    for example in first(train, "scene.detect", 20):
        result = built(example)
        array = check_image(result.inputs[1][1], 64)
        modality, value = result.target
        objects = parse(example["scene"])
        assert modality == "box" and len(value["boxes"]) == len(objects)
        for box, obj in zip(value["boxes"], objects, strict=True):
            check_box_inside({"boxes": [box], "size": value["size"]}, obj, array)
    # A hand-written example in another order still gets row-major targets.
    shuffled = {
        "task": "scene.caption", "id": "x",
        "scene": "a small red circle at bottom right. a large blue star at top left.",
    }
    assert built(shuffled).target[1] == "a large blue star at top left. a small red circle at bottom right."
    boxes = built({**shuffled, "task": "scene.detect"}).target[1]["boxes"]
    assert boxes[0][0] < 21 and boxes[1][0] >= 42


def test_vqa_builds_question_and_answer(train: list[dict]) -> None:
    for example in first(train, "scene.vqa", 20):
        result = built(example)
        assert [m for m, _ in result.inputs] == ["text", "image"]
        assert result.inputs[0][1].endswith(("?", "."))
        check_image(result.inputs[1][1], 64)
        assert result.target == ("text", example["answer"])


def test_refexp_names_one_object_and_boxes_it(train: list[dict]) -> None:
    for example in first(train, "scene.refexp", 30):
        objects = parse(example["scene"])
        reference = example["reference"]
        hits = [o for o in objects if all(o[k] == v for k, v in reference.items())]
        assert hits == [objects[example["index"]]], example
        result = built(example)
        words = " ".join(reference[k] for k in ("size", "color", "shape") if k in reference)
        assert words in result.inputs[0][1]
        array = check_image(result.inputs[1][1], 64)
        assert result.target[0] == "box" and len(result.target[1]["boxes"]) == 1
        check_box_inside(result.target[1], hits[0], array)


def test_region_caption_names_the_boxed_object(train: list[dict]) -> None:
    for example in first(train, "scene.region_caption", 30):
        obj = parse(example["scene"])[example["index"]]
        result = built(example)
        assert [m for m, _ in result.inputs] == ["text", "image", "box"]
        array = check_image(result.inputs[1][1], 64)
        check_box_inside(result.inputs[2][1], obj, array)
        assert result.target == ("text", f"{obj['size']} {obj['color']} {obj['shape']}")


def test_text_to_image_draws_the_text(train: list[dict]) -> None:
    for example in first(train, "scene.text_to_image", 20):
        result = built(example)
        assert result.inputs[0][0] == "text" and example["scene"] in result.inputs[0][1]
        assert result.target[0] == "image"
        array = check_image(result.target[1], 32)
        for obj in parse(example["scene"]):
            x1, y1, x2, y2 = cell(obj["row"], obj["col"], 32)
            assert (array[y1:y2, x1:x2] == COLOR_RGB[obj["color"]]).all(axis=-1).any()
        # Unjittered: the picture is a function of the text alone.
        again = built({**example, "id": "other", "_render_seed": 5}, seed=9)
        assert again.target[1].tobytes() == result.target[1].tobytes()


def test_inpaint_blanks_one_cell_and_targets_the_whole_scene(train: list[dict]) -> None:
    for example in first(train, "scene.inpaint", 20):
        objects = parse(example["scene"])
        obj = objects[example["index"]]
        result = built(example)
        prompt = result.inputs[0][1]
        assert f"{obj['size']} {obj['color']} {obj['shape']}" in prompt
        assert f"{list(ROW)[obj['row']]} {list(COL)[obj['col']]}" in prompt
        masked = check_image(result.inputs[1][1], 64)
        x1, y1, x2, y2 = cell(obj["row"], obj["col"], 64)
        assert (masked[y1:y2, x1:x2] == BACKGROUND).all()
        target = check_image(result.target[1], 32)
        for other in objects:
            x1, y1, x2, y2 = cell(other["row"], other["col"], 32)
            assert (target[y1:y2, x1:x2] == COLOR_RGB[other["color"]]).all(axis=-1).any()


def test_other_sizes_follow_the_options() -> None:
    options = SceneVisionConfig(train_examples=14, image_size=96, target_size=48)
    for example in build_scene_vision(options, "train", 0):
        result = built(example)
        for modality, value in [*result.inputs, result.target]:
            if isinstance(value, Image.Image):
                assert value.size in ((96, 96), (48, 48))
                assert value.size == ((48, 48) if (modality, value) == result.target else (96, 96))
            if modality == "box":
                assert value["size"] == [96, 96]


def test_phrasings_vary_with_the_rng(train: list[dict]) -> None:
    for task in VISION_TASKS:
        example = first(train, task)[0]
        prompts = {built(example, seed).inputs[0][1] for seed in range(40)}
        assert len(prompts) >= 3, (task, prompts)
        if task in PROMPTS:
            assert len(PROMPTS[task]) >= 4


def test_errors_name_the_example_and_field(train: list[dict]) -> None:
    refexp = first(train, "scene.refexp")[0]
    with pytest.raises(ValueError, match=r"'train-\d+' of task scene.refexp: field 'reference'"):
        built({**refexp, "reference": {"shape": "hexagon"}})
    with pytest.raises(ValueError, match=r"field 'index' is 2 but 'reference'"):
        built({**refexp, "scene": "a small red circle at top left. a large blue star at middle right."
               " a large red star at bottom right.", "reference": {"shape": "circle"}, "index": 2})
    inpaint = first(train, "scene.inpaint")[0]
    with pytest.raises(ValueError, match=r"scene.inpaint: field 'index' is 7 but the scene has"):
        built({**inpaint, "index": 7})
    with pytest.raises(ValueError, match=r"scene.inpaint: field 'scene' must be a string \(got missing\)"):
        built({k: v for k, v in inpaint.items() if k != "scene"})
    with pytest.raises(ValueError, match=r"field 'scene': cannot read a scene"):
        built({**inpaint, "scene": "a pink thing."})
    with pytest.raises(ValueError, match=r"field '_image_size' must be an int >= 32"):
        built({**inpaint, "_image_size": 8})
    vqa = first(train, "scene.vqa")[0]
    with pytest.raises(ValueError, match=r"scene.vqa: malformed query"):
        built({**vqa, "query": {"thing": 1}})
    with pytest.raises(ValueError, match=r"scene.vqa: field 'kind' is 'scene.colour'"):
        built({**vqa, "kind": "scene.colour"})


# --------------------------------------------------------------------------- gallery, scores


def test_illustrations_are_images(train: list[dict]) -> None:
    for task in ("scene.detect", "scene.refexp"):
        example = first(train, task)[0]
        picture = SPECS[task].illustrate(example, {"boxes": [[0.1, 0.1, 0.3, 0.3]]}, None)
        assert isinstance(picture, Image.Image) and picture.size == (256, 256)
        array = np.asarray(picture)
        assert (array == (255, 0, 0)).all(axis=-1).any(), "predicted box in red"
        assert (array == (40, 220, 40)).all(axis=-1).any(), "true box in green"
        assert SPECS[task].illustrate(example, "garbage", None).size == (256, 256)
    for task in ("scene.text_to_image", "scene.inpaint"):
        example = first(train, task)[0]
        target = built(example).target[1]
        picture = SPECS[task].illustrate(example, target, target)
        assert isinstance(picture, Image.Image) and picture.height == 4 * 32 + 4
        assert SPECS[task].illustrate(example, None, target) is None


def test_pixel_boxes_reads_both_frames() -> None:
    assert pixel_boxes({"boxes": [[0.25, 0.5, 0.5, 1.0]]}, 64, 64) == [(16, 32, 32, 64)]
    assert pixel_boxes({"boxes": [[8, 8, 16, 32]], "size": [32, 32]}, 64, 64) == [(16, 16, 32, 64)]
    assert pixel_boxes({"boxes": [[1, 2], "x", [0.1, 0.1, 0.2, float("nan")]]}, 64, 64) == []
    assert pixel_boxes(None, 64, 64) == []


def test_scores_reward_the_true_picture_only(train: list[dict]) -> None:
    blank = Image.new("RGB", (32, 32), BACKGROUND)
    for task in ("scene.text_to_image", "scene.inpaint"):
        for example in first(train, task, 8):
            target = built(example).target[1]
            metrics = SPECS[task].score(example, target, target)
            assert set(metrics) >= {"scene_match", "object_recall"}
            assert all(v == 1.0 for v in metrics.values()), (example, metrics)
            worse = SPECS[task].score(example, blank, target)
            assert worse["scene_match"] == 0.0 and worse["object_recall"] == 0.0
        with pytest.raises(TypeError, match=r"the prediction is str"):
            SPECS[task].score(example, "an image", target)
    # One object of a wrong colour: the scene no longer matches, recall drops.
    example = {
        "task": "scene.text_to_image", "id": "w", "_target_size": 32,
        "scene": "a large red circle at top left. a large blue star at bottom right.",
    }
    wrong = built({**example, "scene": "a large red circle at top left. a large green star at bottom right."})
    metrics = SPECS["scene.text_to_image"].score(example, wrong.target[1], None)
    assert metrics == {"scene_match": 0.0, "object_recall": 0.5}


# --------------------------------------------------------------------------- plugin


def test_plugin_registers_and_pickles() -> None:
    registry = load_registry([("scenes", scenes_plugin)], use_entry_points=False, strict=True)
    dataset = registry.dataset("scene_vision")
    assert dataset.config_model is SceneVisionConfig and dataset.splits == ["train", "heldout"]
    assert {"scene_qa", "scene_vision"} <= set(registry.datasets)
    assert set(VISION_TASKS) <= set(registry.tasks) and "scene.describe" in registry.tasks
    for name in VISION_TASKS:
        spec = registry.tasks[name]
        assert spec.target_modality in {"text", "box", "image"}
        for fn in (spec.build, spec.score, spec.illustrate):
            pickle.loads(pickle.dumps(fn))
    options = dataset.config_model.model_validate({"train_examples": 7})
    assert len(dataset.build(options, "train", 0)) == 7
