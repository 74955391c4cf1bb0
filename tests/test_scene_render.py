"""Rendering scenes to images with pixel boxes (uio.modalities.scenes.render, .sheet, .parse)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from uio.modalities.scenes import (
    RenderedScene,
    SceneQAConfig,
    build_scene_qa,
    contact_sheet,
    describe,
    parse_description,
    render_example,
    render_scene,
)
from uio.modalities.scenes.render import BACKGROUND, COLOR_RGB, MIN_SIZE
from uio.modalities.scenes.world import COLORS, SHAPES, SIZES, SceneObject

SIZES_PX = (32, 64, 96, 128, 256)


def cell(row: int, col: int, size: int) -> tuple[int, int, int, int]:
    """The cell's pixels, half-open, written out here rather than taken from the renderer."""
    edges = [0, size // 3, 2 * size // 3, size]
    return edges[col], edges[row], edges[col + 1], edges[row + 1]


def random_scene(rng: random.Random) -> list[SceneObject]:
    cells = rng.sample(range(9), rng.randint(1, 9))
    return [
        SceneObject(rng.choice(SIZES), rng.choice(COLORS), rng.choice(SHAPES), c // 3, c % 3)
        for c in cells
    ]


def pixels(scene: RenderedScene) -> np.ndarray:
    array = np.asarray(scene.image)
    assert array.shape == (scene.size, scene.size, 3) and array.dtype == np.uint8
    return array


def is_rgb(array: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return (array == np.array(rgb, dtype=np.uint8)).all(axis=-1)


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.fixture(scope="module")
def scenes() -> list[RenderedScene]:
    """Random scenes at every size, each with its own seed."""
    rng = random.Random(0)
    return [
        render_scene(random_scene(rng), size, seed)
        for size in SIZES_PX
        for seed in range(40)
    ]


# ------------------------------------------------------------------ determinism


def test_same_inputs_give_identical_bytes() -> None:
    objects = random_scene(random.Random(3))
    state = random.getstate()
    first = render_scene(objects, 64, 11)
    assert random.getstate() == state, "the renderer must not touch the global RNG"
    again = render_scene(list(objects), 64, 11)
    assert first.image.mode == "RGB" and first.image.size == (64, 64)
    assert first.image.tobytes() == again.image.tobytes()
    assert first.boxes == again.boxes
    assert first.objects == tuple(objects)
    # A Random with the same seed is the same stream as the int seed.
    via_rng = render_scene(objects, 64, random.Random(11))
    assert via_rng.image.tobytes() == first.image.tobytes()


def test_seeds_change_the_jitter_but_not_the_cells() -> None:
    objects = [
        SceneObject("large", "red", "circle", 0, 0),
        SceneObject("small", "blue", "star", 1, 2),
        SceneObject("large", "green", "heart", 2, 1),
    ]
    renders = [render_scene(objects, 64, seed) for seed in range(20)]
    assert len({r.boxes for r in renders}) > 5, "jitter should move or scale the objects"
    assert len({r.image.tobytes() for r in renders}) > 5
    for render in renders:
        for obj, (x1, y1, x2, y2) in zip(objects, render.boxes, strict=True):
            cx1, cy1, cx2, cy2 = cell(obj.row, obj.col, 64)
            assert cx1 <= x1 < x2 <= cx2 and cy1 <= y1 < y2 <= cy2
    fixed = {render_scene(objects, 64, seed, jitter=False).image.tobytes() for seed in range(5)}
    assert len(fixed) == 1, "without jitter the seed must not matter"


def test_a_shared_rng_is_advanced() -> None:
    objects = [SceneObject("large", "red", "square", 1, 1)]
    rng = random.Random(5)
    first, second = render_scene(objects, 64, rng), render_scene(objects, 64, rng)
    assert first.boxes != second.boxes or first.image.tobytes() != second.image.tobytes()
    assert render_scene(objects, 64, 5).boxes == first.boxes


# ------------------------------------------------------------------ geometry


def test_boxes_lie_inside_the_image_and_their_cell(scenes: list[RenderedScene]) -> None:
    for scene in scenes:
        assert len(scene.boxes) == len(scene.objects)
        for obj, box in zip(scene.objects, scene.boxes, strict=True):
            x1, y1, x2, y2 = box
            assert all(isinstance(v, int) for v in box)
            assert 0 <= x1 < x2 <= scene.size and 0 <= y1 < y2 <= scene.size
            cx1, cy1, cx2, cy2 = cell(obj.row, obj.col, scene.size)
            assert cx1 <= x1 and x2 <= cx2 and cy1 <= y1 and y2 <= cy2, (obj, box, scene.size)


def test_boxes_are_tight_and_pixels_belong_to_their_object(scenes: list[RenderedScene]) -> None:
    for scene in scenes:
        array = pixels(scene)
        covered = np.zeros(array.shape[:2], dtype=bool)
        for obj, box in zip(scene.objects, scene.boxes, strict=True):
            cx1, cy1, cx2, cy2 = cell(obj.row, obj.col, scene.size)
            inside_cell = np.zeros_like(covered)
            inside_cell[cy1:cy2, cx1:cx2] = True
            mine = is_rgb(array, COLOR_RGB[obj.color]) & inside_cell
            assert mine.any(), obj
            assert tight_box(mine) == box, (obj, box)
            x1, y1, x2, y2 = box
            covered[y1:y2, x1:x2] = True
            # Within the box: only the object's colour and background, no blending.
            in_box = array[y1:y2, x1:x2]
            assert (is_rgb(in_box, COLOR_RGB[obj.color]) | is_rgb(in_box, BACKGROUND)).all()
        assert is_rgb(array[~covered], BACKGROUND).all(), "background outside all boxes"


def test_objects_fill_their_box_around_its_centre(scenes: list[RenderedScene]) -> None:
    for scene in scenes:
        array = pixels(scene)
        for obj, (x1, y1, x2, y2) in zip(scene.objects, scene.boxes, strict=True):
            colour = COLOR_RGB[obj.color]
            assert is_rgb(array[(y1 + y2) // 2, (x1 + x2) // 2], colour), (obj, scene.size)
            share = is_rgb(array[y1:y2, x1:x2], colour).mean()
            assert share >= 0.4, (obj, share)  # triangle and diamond are half their box


def test_small_objects_are_smaller_than_large_ones(scenes: list[RenderedScene]) -> None:
    for size in SIZES_PX:
        sides = {"small": [], "large": []}
        for scene in (s for s in scenes if s.size == size):
            for obj, (x1, y1, x2, y2) in zip(scene.objects, scene.boxes, strict=True):
                sides[obj.size].append(max(x2 - x1, y2 - y1))
        assert sides["small"] and sides["large"]
        assert max(sides["small"]) < min(sides["large"]), (size, sides)
        # "large fills most of the cell, small about half of it"
        assert min(sides["large"]) >= 0.6 * (size // 3)
        assert 0.3 * (size // 3) <= min(sides["small"]) and max(sides["small"]) <= 0.6 * (size // 3)


def single(shape: str, size: int, extent: str = "large") -> tuple[np.ndarray, tuple]:
    scene = render_scene([SceneObject(extent, "red", shape, 1, 1)], size, jitter=False)
    return ~is_rgb(pixels(scene), BACKGROUND), scene.boxes[0]


@pytest.mark.parametrize(("size", "extent"), [(32, "large"), (32, "small"), (64, "large"), (64, "small"), (128, "small")])
def test_the_six_shapes_have_different_masks(size: int, extent: str) -> None:
    masks = {shape: single(shape, size, extent)[0] for shape in SHAPES}
    for a, b in itertools.combinations(SHAPES, 2):
        differing = int((masks[a] ^ masks[b]).sum())
        smaller = min(masks[a].sum(), masks[b].sum())
        floor = 3 if size == 32 and extent == "small" else max(3, 0.1 * smaller)
        assert differing >= floor, (a, b, differing, smaller)


def test_shapes_have_their_geometry() -> None:
    """Coverage and silhouette of each shape in its box, at 256 px where pixels are fine."""
    fill = {}
    for shape in SHAPES:
        mask, (x1, y1, x2, y2) = single(shape, 256)
        box = mask[y1:y2, x1:x2]
        fill[shape] = box.mean()
        rows = box.sum(axis=1)
        if shape == "triangle":  # apex up: widens steadily downwards
            assert rows[0] < 0.1 * rows[-1] and (np.diff(rows) >= 0).all()
        if shape == "diamond":  # widest in the middle row, pointed at both ends
            assert rows.argmax() in range(len(rows) // 2 - 2, len(rows) // 2 + 3)
            assert rows[0] < 0.1 * rows.max() and rows[-1] < 0.1 * rows.max()
        if shape == "heart":  # two lobes on top, one point below
            top = box[len(box) // 10]
            runs = np.count_nonzero(np.diff(top.astype(int)) == 1) + top[0]
            assert runs == 2 and rows[-1] < 0.1 * rows.max()
        if shape == "star":  # five points: the top row is a narrow tip
            assert rows[0] < 0.1 * rows.max()
            assert 0.9 <= (y2 - y1) / (x2 - x1) <= 1.0
        if shape in ("circle", "square", "triangle", "diamond"):
            assert x2 - x1 == y2 - y1, shape
    assert fill["square"] == 1.0
    assert fill["circle"] == pytest.approx(np.pi / 4, abs=0.02)
    assert fill["triangle"] == pytest.approx(0.5, abs=0.03)
    assert fill["diamond"] == pytest.approx(0.5, abs=0.03)
    assert 0.35 < fill["star"] < 0.55 and 0.55 < fill["heart"] < 0.7


def test_colour_table_is_distinct() -> None:
    table = [np.array(COLOR_RGB[c], dtype=float) for c in COLORS] + [np.array(BACKGROUND, float)]
    assert len(set(COLOR_RGB)) == len(COLORS)
    closest = min(np.linalg.norm(a - b) for a, b in itertools.combinations(table, 2))
    assert closest > 80, closest


def test_an_empty_scene_is_plain_background() -> None:
    scene = render_scene([], 32, 0)
    assert scene.boxes == () and is_rgb(pixels(scene), BACKGROUND).all()


def test_box_value_is_in_the_pixel_frame() -> None:
    scene = render_scene([SceneObject("small", "blue", "heart", 2, 0)], 96, 4)
    assert scene.box_value() == {"boxes": [list(scene.boxes[0])], "size": [96, 96]}


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"size": 31}, ValueError, ["size is 31", f"at least {MIN_SIZE}"]),
        ({"size": 64.0}, TypeError, ["size is 64.0", "expected an int"]),
        ({"size": True}, TypeError, ["size is True", "expected an int"]),
        ({"rng_or_seed": "7"}, TypeError, ["rng_or_seed", "int seed or a random.Random"]),
        ({"rng_or_seed": None}, TypeError, ["rng_or_seed", "int seed or a random.Random"]),
        ({"objects": None}, TypeError, ["objects is NoneType", "sequence of SceneObject"]),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, error: type, words: list[str]) -> None:
    arguments = {"objects": [SceneObject("large", "red", "circle", 0, 0)], **kwargs}
    with pytest.raises(error) as info:
        render_scene(**arguments)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        (SceneObject("large", "pink", "circle", 0, 1), ValueError,
         ["objects[1].color is 'pink'", "red, green, blue, yellow, purple, orange"]),
        (SceneObject("large", "red", "hexagon", 0, 1), ValueError,
         ["objects[1].shape is 'hexagon'", "circle, square"]),
        (SceneObject("huge", "red", "circle", 0, 1), ValueError,
         ["objects[1].size is 'huge'", "small, large"]),
        (SceneObject("large", "red", "circle", 3, 1), ValueError,
         ["objects[1].row is 3", "0..2"]),
        (SceneObject("large", "red", "circle", 0, -1), ValueError,
         ["objects[1].col is -1", "0..2"]),
        (SceneObject("small", "blue", "star", 2, 2), ValueError,
         ["objects[1] and objects[0]", "cell (row=2, col=2)", "at most one object per cell"]),
        ({"color": "red"}, TypeError, ["objects[1] is {'color': 'red'}", "SceneObject"]),
    ],
)
def test_bad_objects_are_named(bad: object, error: type, words: list[str]) -> None:
    objects = [SceneObject("large", "red", "circle", 2, 2), bad]
    with pytest.raises(error) as info:
        render_scene(objects, 64)
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------ dataset examples


@pytest.fixture(scope="module")
def examples() -> list[dict]:
    options = SceneQAConfig(train_examples=60, heldout_examples=30)
    return build_scene_qa(options, "train", 0) + build_scene_qa(options, "heldout", 0)


def test_descriptions_parse_back_to_their_objects(examples: list[dict]) -> None:
    rng = random.Random(1)
    for _ in range(50):
        objects = random_scene(rng)
        assert parse_description(describe(objects)) == objects
    for example in examples:
        assert describe(parse_description(example["scene"])) == example["scene"]


@pytest.mark.parametrize(
    "text",
    ["", "a small red circle at top left", "a small red circle at top left. ",
     "a small red circle at top left.a large blue star at middle right.",
     "a small pink circle at top left.", "the small red circle at top left."],
)
def test_irregular_descriptions_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read a scene from"):
        parse_description(text)


def test_render_example_draws_the_described_scene(examples: list[dict]) -> None:
    words = {"top": 0, "middle": 1, "bottom": 2, "left": 0, "center": 1, "right": 2}
    renders = []
    for example in examples:
        scene = render_example(example, 64, seed=0)
        assert render_example(example, 64, seed=0).image.tobytes() == scene.image.tobytes()
        array = pixels(scene)
        clauses = example["scene"].rstrip(".").split(". ")
        assert len(clauses) == len(scene.boxes)
        for clause, (x1, y1, x2, y2) in zip(clauses, scene.boxes, strict=True):
            _, size, colour, _shape, _, row, col = clause.split(" ")
            cx1, cy1, cx2, cy2 = cell(words[row], words[col], 64)
            assert cx1 <= x1 < x2 <= cx2 and cy1 <= y1 < y2 <= cy2, clause
            assert is_rgb(array[(y1 + y2) // 2, (x1 + x2) // 2], COLOR_RGB[colour]), clause
            side = max(x2 - x1, y2 - y1)
            assert side >= 13 if size == "large" else side <= 12, (clause, side)
        renders.append(scene.image.tobytes())
    assert len(set(renders)) == len(renders), "each example gets its own layout"
    other_seed = [render_example(e, 64, seed=1).boxes for e in examples]
    assert other_seed != [render_example(e, 64, seed=0).boxes for e in examples]


def test_render_example_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match='no "scene"'):
        render_example({"id": "x", "answer": "two"}, 64)
    with pytest.raises(TypeError, match="expected a raw scene_qa example"):
        render_example("a small red circle at top left.", 64)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed is '1'"):
        render_example({"scene": "a small red circle at top left."}, 64, "1")  # type: ignore[arg-type]


# ------------------------------------------------------------------ contact sheet


def test_contact_sheet_tiles_the_scenes(scenes: list[RenderedScene]) -> None:
    chosen = [s for s in scenes if s.size == 64][:12]
    sheet = contact_sheet(chosen, 5, gap=3)
    assert sheet.mode == "RGB"
    assert sheet.size == (5 * 64 + 6 * 3, 3 * 64 + 4 * 3)
    array = np.asarray(sheet)
    for index, scene in enumerate(chosen):
        left, top = 3 + (index % 5) * 67, 3 + (index // 5) * 67
        assert (array[top:top + 64, left:left + 64] == pixels(scene)).all(), index
    # The last row's three unused tiles are blank.
    assert (array[3 + 2 * 67:, 3 + 2 * 67:] == 255).all()
    assert contact_sheet(chosen[:1], 4, gap=0).size == (4 * 64, 64)


def test_contact_sheet_outlines_boxes_without_changing_scenes(scenes: list[RenderedScene]) -> None:
    scene = next(s for s in scenes if s.size == 64 and s.objects)
    before = scene.image.tobytes()
    array = np.asarray(contact_sheet([scene], 1, gap=0, boxes=True))
    assert scene.image.tobytes() == before
    x1, y1, x2, y2 = scene.boxes[0]
    # The outline runs one pixel outside the box and leaves the box's pixels alone.
    ring = np.concatenate([
        array[y1 - 1, x1 - 1:x2 + 1], array[y2, x1 - 1:x2 + 1],
        array[y1 - 1:y2 + 1, x1 - 1], array[y1 - 1:y2 + 1, x2],
    ])
    assert (ring == 255).all()
    assert (array[y1:y2, x1:x2] == pixels(scene)[y1:y2, x1:x2]).all()
    assert not (np.asarray(contact_sheet([scene], 1, gap=0)) == array).all()


def test_contact_sheet_errors() -> None:
    small, big = render_scene([], 32), render_scene([], 64)
    with pytest.raises(ValueError, match="scenes have different sizes"):
        contact_sheet([small, big], 2)
    with pytest.raises(ValueError, match="scenes is empty"):
        contact_sheet([], 2)
    with pytest.raises(ValueError, match="columns is 0; expected an int >= 1"):
        contact_sheet([small], 0)
    with pytest.raises(TypeError, match="gap is 1.5"):
        contact_sheet([small], 1, gap=1.5)  # type: ignore[arg-type]
