"""The built-in box modality: quantiser, processor errors, decoder scores, mAP, a tiny run."""

from __future__ import annotations

import io
import json
import pickle
import random
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from uio.modalities.box import (
    BoxConfig,
    BoxInputEncoder,
    BoxOutputDecoder,
    BoxProcessor,
    BoxTokenizer,
    box_iou,
    detection_map,
    match_boxes,
    read_boxes,
)
from uio.modalities.box import plugin as box_plugin
from uio.modalities.box.objectives import DIRECT
from uio.modalities.box.plugin import BOX_SPEC
from uio.plugins import EncoderContext, ObjectiveContext, ObjectiveExample, ProcessContext, Segment

pytest_plugins = ["uio.plugins.testing"]

SAMPLES = [
    {"boxes": [[0.1, 0.2, 0.5, 0.9]]},
    {"boxes": [[12, 40, 200, 310], [0, 0, 64, 64]], "size": [640, 480]},
    {"boxes": [[0, 0, 1, 1], [0.25, 0.25, 0.25, 0.75]]},  # whole image; a zero-width line
    {"boxes": []},
]
CTX = ProcessContext(example_id="ex-7")


def make(
    num_bins: int = 1000, max_boxes: int = 100
) -> tuple[BoxTokenizer, BoxProcessor, BoxOutputDecoder]:
    config = BoxConfig(num_bins=num_bins, max_boxes=max_boxes)
    tokenizer = BoxTokenizer(config)
    return tokenizer, BoxProcessor(config, tokenizer), BoxOutputDecoder(tokenizer)


# --------------------------------------------------------------------------- config and contract


def test_config_defaults_and_validation() -> None:
    assert BoxConfig().num_bins == 1000  # UIO2's location bins
    assert BOX_SPEC.vocab_size_for(BoxConfig(num_bins=64)) == 64
    with pytest.raises(ValidationError):
        BoxConfig(num_bins=1)
    with pytest.raises(ValidationError):
        BoxConfig(num_bin=10)  # extra="forbid" catches typos


def test_contract(uio_contract) -> None:
    uio_contract(BOX_SPEC, sample_values=SAMPLES)
    uio_contract(BOX_SPEC, config={"num_bins": 7}, sample_values=SAMPLES)


def test_registers_through_its_entry_point(uio_isolated_registry) -> None:
    registry = uio_isolated_registry.use_builtin("box")
    assert registry.plugin("box").status == "ok"
    assert sorted(registry.modalities) == ["box"]
    assert [o.name for o in registry.objectives_for("box")] == ["box.direct"]
    assert registry.modalities["box"].build_tokenizer is BoxTokenizer
    assert box_plugin.uio_modalities() == [BOX_SPEC]


# --------------------------------------------------------------------------- quantiser


@pytest.mark.parametrize("num_bins", [1000, 7])
def test_round_trip_error_is_at_most_half_a_bin(num_bins: int) -> None:
    tokenizer, _, _ = make(num_bins)
    rng = random.Random(0)
    half = 0.5 / num_bins
    for _ in range(300):
        x1, x2 = sorted(rng.random() for _ in range(2))
        y1, y2 = sorted(rng.random() for _ in range(2))
        ids = tokenizer.encode({"boxes": [[x1, y1, x2, y2]]})
        assert len(ids) == 4 and all(0 <= i < num_bins for i in ids)
        (back,) = tokenizer.decode(ids)["boxes"]
        for a, b in zip(back, (x1, y1, x2, y2), strict=True):
            assert abs(a - b) <= half + 1e-12


def test_pixel_coordinates_are_normalised_by_size() -> None:
    tokenizer, _, _ = make(1000)
    ids = tokenizer.encode({"boxes": [[64, 48, 320, 480]], "size": [640, 480]})
    assert ids == [100, 100, 500, 999]
    (back,) = tokenizer.decode(ids)["boxes"]
    assert back == pytest.approx([0.1005, 0.1005, 0.5005, 0.9995])


def test_bin_edges() -> None:
    tokenizer, _, _ = make(1000)
    # 0 is the first bin, the full width or height the last, one bin width the second.
    assert tokenizer.encode({"boxes": [[0, 0, 640, 480]], "size": [640, 480]}) == [0, 0, 999, 999]
    assert tokenizer.encode({"boxes": [[0.0, 0.001, 1.0, 1.0]]}) == [0, 1, 999, 999]
    assert tokenizer.encode({"boxes": [[0.0009, 0, 0.9995, 1]]}) == [0, 0, 999, 999]
    assert tokenizer.encode({"boxes": [[0.5, 0.5, 0.9985, 0.9985]]}) == [500, 500, 998, 998]
    assert tokenizer.decode([0, 0, 999, 999])["boxes"] == [[0.0005, 0.0005, 0.9995, 0.9995]]


def test_decode_drops_incomplete_boxes_and_foreign_ids() -> None:
    tokenizer, _, decoder = make(1000)
    assert decoder.decode([100, 200, 300, 400, 500, 600])["boxes"] == [
        pytest.approx([0.1005, 0.2005, 0.3005, 0.4005])
    ]
    assert decoder.decode([1, 2, 3]) == {"boxes": []}
    # Ids outside [0, num_bins) are dropped before boxes are formed.
    assert decoder.decode([-1, 10, 1000, 20, 30, 40])["boxes"] == [
        pytest.approx([0.0105, 0.0205, 0.0305, 0.0405])
    ]


def test_tokenizer_state_and_fingerprint() -> None:
    small, _, _ = make(100)
    other, _, _ = make(1000)
    assert small.fingerprint() != other.fingerprint()
    state = torch.load(_saved(small.state_dict()), weights_only=True)
    fresh, _, _ = make(100)
    fresh.load_state_dict(state)
    assert fresh.fingerprint() == small.fingerprint()
    with pytest.raises(ValueError, match=r"saved with num_bins=100 but box.num_bins is 1000"):
        other.load_state_dict(state)


def _saved(state: dict) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


# --------------------------------------------------------------------------- processor


def test_processor_segments_and_targets() -> None:
    _, processor, _ = make(10)
    value = {"boxes": [[0.05, 0.15, 0.55, 1.0], [0, 0, 0.3, 0.3]]}
    seg = processor.input_segment(value, CTX)
    assert isinstance(seg, Segment) and seg.modality == "box"
    assert seg.ids.dtype == torch.long and seg.ids.tolist() == [0, 1, 5, 9, 0, 0, 3, 3]
    assert processor.target_ids(value, CTX) == [0, 1, 5, 9, 0, 0, 3, 3]
    assert processor.input_segment({"boxes": []}, CTX).ids.tolist() == []
    clone = pickle.loads(pickle.dumps(processor))
    assert clone.target_ids(value, CTX) == [0, 1, 5, 9, 0, 0, 3, 3]


BAD_VALUES = [
    ({"boxes": [[0.5, 0.1, 0.2, 0.3]]}, ValueError, r'"boxes"\[0\] has x2=0.2 < x1=0.5'),
    ({"boxes": [[0, 0, 1, 1], [0.1, 0.6, 0.2, 0.3]]}, ValueError,
     r'"boxes"\[1\] has y2=0.3 < y1=0.6'),
    ({"boxes": [[10, 0, 700, 100]], "size": [640, 480]}, ValueError,
     r'"boxes"\[0\] x2=700 is outside the image \[0, width=640\]'),
    ({"boxes": [[0, -1, 10, 10]], "size": [640, 480]}, ValueError,
     r'"boxes"\[0\] y1=-1 is outside the image \[0, height=480\]'),
    ({"boxes": [[12, 40, 200, 310]]}, ValueError,
     r'"boxes"\[0\] x1=12 is outside \[0, 1\] \(without "size", coordinates must'),
    ({"boxes": [[0.1, 0.2, 0.3]]}, ValueError, r'"boxes"\[0\] has 3 values; expected 4'),
    ({"boxes": [[0.1, 0.2, 0.3, 0.4, 0.5]]}, ValueError, r'"boxes"\[0\] has 5 values'),
    ({"boxes": [[0.1, "a", 0.3, 0.4]]}, TypeError,
     r"\"boxes\"\[0\]\[1\] \(y1\) is 'a' \(str\); expected a number"),
    ({"boxes": [[0.1, 0.2, None, 0.4]]}, TypeError, r'\[2\] \(x2\) is None'),
    ({"boxes": [[True, 0.2, 0.3, 0.4]]}, TypeError, r'\[0\] \(x1\) is True \(bool\)'),
    ({"boxes": [[0.1, 0.2, float("nan"), 0.4]]}, ValueError, r"\(x2\) is nan; expected a finite"),
    ({"boxes": [0.1, 0.2, 0.3, 0.4]}, TypeError, r'"boxes"\[0\] is 0.1 \(float\); expected a list'),
    ({"boxes": "0 0 1 1"}, TypeError, r'"boxes" is str; expected a list'),
    ({"boxes": [[0, 0, 1, 1]], "size": [640]}, ValueError,
     r'"size" is \[640\]; expected \[width, height\]'),
    ({"boxes": [[0, 0, 1, 1]], "size": [0, 480]}, ValueError, r"must be positive"),
    ({"box": [[0, 0, 1, 1]]}, ValueError, r"unknown key\(s\) \['box'\]"),
    ({"boxes": [[0, 0, 1, 1]], "labels": ["cat"]}, ValueError, r"unknown key\(s\) \['labels'\]"),
    ({"size": [640, 480]}, ValueError, r'needs "boxes"'),
    ([[0, 0, 1, 1]], TypeError, r"must be a dict like"),
]


@pytest.mark.parametrize(("value", "error", "message"), BAD_VALUES)
def test_bad_values_name_the_example_and_field(value, error, message) -> None:
    _, processor, _ = make()
    for role, call in (("input", processor.input_segment), ("target", processor.target_ids)):
        with pytest.raises(error, match=message) as info:
            call(value, CTX)
        assert str(info.value).startswith(f"example 'ex-7': box {role}: ")


def test_too_many_boxes_is_an_error_not_a_truncation() -> None:
    _, processor, _ = make(max_boxes=2)
    message = r"example 'ex-7': box target has 3 boxes, more than box.max_boxes=2"
    with pytest.raises(ValueError, match=message):
        processor.target_ids({"boxes": [[0, 0, 1, 1]] * 3}, CTX)
    assert len(processor.target_ids({"boxes": [[0, 0, 1, 1]] * 2}, CTX)) == 8


# --------------------------------------------------------------------------- encoder and objective


def test_encoder_looks_ids_up_in_the_shared_table() -> None:
    table = torch.nn.Embedding(50, 8)
    encoder = BoxInputEncoder(EncoderContext(d_model=8, embed_ids=table))
    assert list(encoder.parameters()) == []
    out = encoder([torch.tensor([10, 11, 12, 13]), torch.tensor([40, 41, 42, 43])])
    torch.testing.assert_close(out, table(torch.tensor([10, 11, 12, 13, 40, 41, 42, 43])))
    with pytest.raises(ValueError, match="no segments"):
        encoder([])


def test_direct_objective_keeps_the_example() -> None:
    example = ObjectiveExample(
        inputs=[Segment("text", ids=torch.tensor([3, 4]))],
        target=Segment("box", ids=torch.tensor([20, 21, 22, 23])),
    )
    ctx = ObjectiveContext(sentinel_ids=(1,), modality_ranges={"box": (20, 30)})
    assert DIRECT.apply(example, random.Random(0), ctx) is example
    assert DIRECT.prefix == "S" and DIRECT.target_modalities == ["box"]


# --------------------------------------------------------------------------- IoU and scores


def test_box_iou_on_known_boxes() -> None:
    a, b = [0.0, 0.0, 0.4, 0.4], [0.2, 0.2, 0.6, 0.6]
    assert box_iou(a, a) == 1.0
    assert box_iou(a, b) == pytest.approx(0.04 / (0.16 + 0.16 - 0.04))  # 1/7
    assert box_iou(a, [0.5, 0.5, 0.9, 0.9]) == 0.0
    assert box_iou(a, [0.0, 0.0, 0.4, 0.2]) == pytest.approx(0.5)
    assert box_iou([0.3, 0.3, 0.1, 0.1], [0.1, 0.1, 0.3, 0.3]) == 0.0  # swapped corners: no area
    line = [0.2, 0.1, 0.2, 0.5]
    assert box_iou(line, line) == 1.0 and box_iou(line, [0.3, 0.1, 0.3, 0.5]) == 0.0


def test_matching_is_one_to_one_by_iou() -> None:
    a, b = [0.0, 0.0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]
    near_a = [0.0, 0.0, 0.4, 0.3]
    matches = match_boxes([b, near_a, a], [a, b])
    assert sorted((i, j) for i, j, _ in matches) == [(0, 1), (2, 0)]
    assert match_boxes([[0.0, 0.0, 0.1, 0.1]], [[0.5, 0.5, 0.6, 0.6]]) == []


def test_score_single_box() -> None:
    _, _, decoder = make(1000)
    ref = {"boxes": [[0, 0, 400, 400]], "size": [1000, 1000]}
    assert decoder.score({"boxes": [[0.0, 0.0, 0.4, 0.4]]}, ref) == {"iou": 1.0, "acc@0.5": 1.0}
    most = decoder.score({"boxes": [[0.0, 0.0, 0.4, 0.3]]}, ref)
    assert most["iou"] == pytest.approx(0.75, abs=2e-3) and most["acc@0.5"] == 1.0
    low = decoder.score({"boxes": [[0.2, 0.2, 0.6, 0.6]]}, ref)
    assert low["iou"] == pytest.approx(1 / 7, abs=2e-3) and low["acc@0.5"] == 0.0
    assert decoder.score({"boxes": []}, ref) == {"iou": 0.0, "acc@0.5": 0.0}
    # A generated box with swapped corners is read (not an error) and scores 0.
    assert decoder.score({"boxes": [[0.4, 0.4, 0.0, 0.0]]}, ref) == {"iou": 0.0, "acc@0.5": 0.0}


def test_score_several_boxes() -> None:
    _, _, decoder = make(1000)
    a, b = [0.0, 0.0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]
    ref = {"boxes": [a, b]}
    assert decoder.score({"boxes": [b, a]}, ref) == {"iou": 1.0, "acc@0.5": 1.0}
    missed = decoder.score({"boxes": [a]}, ref)
    assert missed == {"iou": 0.5, "acc@0.5": 0.0}
    extra = decoder.score({"boxes": [a, b, [0.0, 0.5, 0.1, 0.6]]}, ref)
    assert extra["iou"] == pytest.approx(2 / 3) and extra["acc@0.5"] == 0.0
    assert decoder.score({"boxes": []}, {"boxes": []}) == {"iou": 1.0, "acc@0.5": 1.0}
    with pytest.raises(ValueError, match=r"x2=0.1 < x1=0.5"):
        decoder.score({"boxes": [a]}, {"boxes": [[0.5, 0.0, 0.1, 0.2]]})


def test_render_is_one_line() -> None:
    _, _, decoder = make(10)
    text = decoder.render(decoder.decode([1, 2, 3, 4, 0, 0, 9, 9]))
    assert text == "2 boxes: [0.150 0.250 0.350 0.450] [0.050 0.050 0.950 0.950]"
    assert decoder.render({"boxes": []}) == "no boxes"
    assert decoder.render({"boxes": [[10, 20, 30, 40]], "size": [100, 100]}) == (
        "1 box: [0.100 0.200 0.300 0.400]"
    )


def test_read_boxes_normalises() -> None:
    assert read_boxes({"boxes": [[32, 24, 64, 48]], "size": [64, 48]}) == [(0.5, 0.5, 1.0, 1.0)]
    assert read_boxes({"boxes": [[0.9, 0.9, 0.1, 0.1]]}, check=False) == [(0.9, 0.9, 0.1, 0.1)]


# --------------------------------------------------------------------------- mAP

A, B = [0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.9, 0.9]
WRONG = [0.6, 0.0, 0.7, 0.1]


def test_map_perfect_is_one() -> None:
    refs = [{"boxes": [A, B]}, {"boxes": [[10, 10, 30, 30]], "size": [100, 100]}]
    preds = [{"boxes": [B, A]}, {"boxes": [A]}]
    assert detection_map(preds, refs) == pytest.approx(1.0)


def test_map_one_of_two_boxes_missed() -> None:
    # Recall reaches 0.5 at precision 1: COCO's 101-point interpolation credits the
    # recall points 0.00..0.50, i.e. 51 of 101.
    assert detection_map([{"boxes": [A]}], [{"boxes": [A, B]}]) == pytest.approx(51 / 101, abs=1e-6)


def test_map_ranks_by_score() -> None:
    refs = [{"boxes": [A]}]
    preds = [{"boxes": [WRONG, A]}]
    # The false positive ranked first halves the precision at the only recall level.
    assert detection_map(preds, refs, scores=[[0.9, 0.8]]) == pytest.approx(0.5)
    assert detection_map(preds, refs, scores=[[0.1, 0.8]]) == pytest.approx(1.0)


def test_map_averages_over_classes() -> None:
    preds, refs = [{"boxes": [A, B]}], [{"boxes": [A, B]}]
    truth = [["cat", "dog"]]
    same = detection_map(preds, refs, predicted_labels=truth, reference_labels=truth)
    assert same == pytest.approx(1.0)
    # Every box called "cat": cat's AP is 1 (the extra box ranks after the hit), dog's 0.
    wrong = detection_map(preds, refs, predicted_labels=[["cat", "cat"]], reference_labels=truth)
    assert wrong == pytest.approx(0.5)


def test_map_iou_threshold() -> None:
    shifted = [0.1, 0.1, 0.3, 0.2]  # IoU 0.5 with A
    preds, refs = [{"boxes": [shifted]}], [{"boxes": [A]}]
    assert detection_map(preds, refs, iou_threshold=0.45) == pytest.approx(1.0)
    assert detection_map(preds, refs, iou_threshold=0.75) == pytest.approx(0.0)


def test_map_bad_input() -> None:
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        detection_map([{"boxes": []}, {"boxes": []}], [{"boxes": [A]}])
    with pytest.raises(ValueError, match="no reference boxes"):
        detection_map([{"boxes": [A]}], [{"boxes": []}])
    with pytest.raises(ValueError, match="one score per predicted box"):
        detection_map([{"boxes": [A]}], [{"boxes": [A]}], scores=[[0.5, 0.4]])
    with pytest.raises(ValueError, match=r"reference image #0: 1 labels for 2 boxes"):
        detection_map([{"boxes": [A]}], [{"boxes": [A, B]}], reference_labels=[["cat"]])


# --------------------------------------------------------------------------- a tiny run

WORDS = ["red", "blue", "green", "small", "big", "square", "circle", "left", "right", "top"]
RUN_CONFIG = """\
name: tiny-box
seed: 0
model: {{d_model: 32, n_heads: 4, encoder_layers: 1, decoder_layers: 1, mlp_dim: 64,
        num_sentinels: 4}}
modalities:
  text: {{vocab_size: 64}}
  box: {{num_bins: 50}}
data:
  sources:
    - dataset: jsonl
      options: {{path: {manifest}, heldout_fraction: 0.25}}
  encoder_length: 32
  decoder_length: 16
  batch_rows: 2
train: {{max_steps: 2, warmup_steps: 1, lr: 0.003, out_dir: {out}, checkpoint_every_n_steps: 2,
         log_every_n_steps: 1, tokenizer_fit_examples: 100}}
eval: {{max_examples: 6, batch_size: 3}}
generate: {{max_new_tokens: 9}}
"""


def _box_manifest(path: Path, n: int = 40) -> Path:
    rng = random.Random(0)
    lines = []
    for i in range(n):
        x1, y1 = rng.randint(0, 100), rng.randint(0, 80)
        boxes = [[x1, y1, x1 + rng.randint(1, 60), y1 + rng.randint(1, 40)]]
        if i % 3 == 0:
            boxes.append([0, 0, 10, 10])
        prompt = " ".join(rng.choice(WORDS) for _ in range(4))
        lines.append(
            {"task": "locate", "input": {"text": f"where is the {prompt}"},
             "target": {"box": {"boxes": boxes, "size": [160, 120]}}}
        )
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_tiny_run_trains_and_generates_boxes(tmp_path: Path, capsys) -> None:
    from uio.core.cli import main
    from uio.core.generation import DecodeOptions, generate
    from uio.core.inference import load_run

    manifest = _box_manifest(tmp_path / "boxes.jsonl")
    config = tmp_path / "tiny.yaml"
    config.write_text(RUN_CONFIG.format(manifest=manifest, out=tmp_path / "run"))
    assert main(["train", str(config), "--no-progress"]) == 0
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["global_step"] == 2
    assert saved["uio"]["tokenizers"]["box"] == {"num_bins": 50}

    loaded = load_run(checkpoint)
    raws = loaded.run.dataset("heldout")[:4]
    assert raws and all(r["task_name"] == "locate" for r in raws)
    options = DecodeOptions(max_new_tokens=9)

    # Decoding is constrained to the box ids: whatever the barely trained model
    # prefers, every generated id is a location bin.
    pipeline = loaded.run.pipeline()
    examples = [pipeline.for_inference(r, random.Random(i))[0] for i, r in enumerate(raws)]
    ids = generate(loaded.model, examples, ["box"] * len(raws), pipeline.vocab,
                   loaded.run.modality_index, options)
    box_range = pipeline.vocab.range("box")
    assert sum(len(row) for row in ids) > 0
    assert all(box_range.start <= i < box_range.end for row in ids for i in row)

    rows = loaded.generate(raws, options)
    for row, generated in zip(rows, ids, strict=True):
        assert row["modality"] == "box"
        assert isinstance(row["prediction"], dict) and set(row["prediction"]) == {"boxes"}
        # The same greedy ids, decoded: whole boxes only (9 ids -> 2 boxes).
        assert len(row["prediction"]["boxes"]) == len(generated) // 4
        assert all(len(box) == 4 for box in row["prediction"]["boxes"])
        assert set(row["scores"]) == {"iou", "acc@0.5"}
        assert all(0.0 <= v <= 1.0 for v in row["scores"].values())

    capsys.readouterr()
    assert main(["eval", str(checkpoint), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == len(loaded.run.dataset("heldout")[:6])
    (task,) = summary["tasks"].values()
    assert set(task["metrics"]) == set(task["chance"]) == {"iou", "acc@0.5"}
