"""A tiny text + image + box run on the scene world, end to end: fit the VQ-GAN, train,
evaluate with the guidance ablation, and write the gallery."""

from __future__ import annotations

import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from PIL import Image

from uio.core.assembly import assemble
from uio.core.cli import main
from uio.core.config import load_config

CONFIG = """\
name: tiny-vision
seed: 0
model: {{d_model: 32, n_heads: 4, encoder_layers: 1, decoder_layers: 1, mlp_dim: 64, num_sentinels: 4}}
modalities:
  text: {{vocab_size: 96}}
  image:
    input_size: 32
    patch_size: 8
    target_size: 32
    vq_num_down: 3
    codebook_size: 16
    vq_base_channels: 8
    vq_latent_dim: 8
    vit: {{width: 16, depth: 1, heads: 2}}
    fit_steps: 3
    fit_batch_size: 4
  box: {{num_bins: 32}}
data:
  sources:
    - dataset: scene_vision
      options: {{train_examples: 120, heldout_examples: 14, image_size: 32, target_size: 32,
                 tasks: [scene.caption, scene.refexp, scene.text_to_image, scene.detect]}}
  encoder_length: 96
  decoder_length: 40
  batch_rows: 2
objectives:
  weights: {{image.direct: 1.0, image.masked_denoising: 0.5}}
  empty_prompt_rate: 0.5
train: {{max_steps: 2, warmup_steps: 1, out_dir: {out}, checkpoint_every_n_steps: 0,
         log_every_n_steps: 1, tokenizer_fit_examples: 60}}
eval: {{max_examples: 14, batch_size: 7}}
generate: {{max_new_tokens: 12, guidance_scale: 1.5}}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The config of a tiny vision run trained for two steps."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("vision")
    config = folder / "tiny-vision.yaml"
    config.write_text(CONFIG.format(out=folder / "run"))
    assert main(["train", str(config), "--no-progress"]) == 0
    return config


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.sources += [v for k, v in attrs if k in ("src", "href") and v]


def test_eval_writes_a_gallery_whose_every_file_is_a_valid_png(trained: Path, capsys) -> None:
    out = trained.parent / "eval"
    assert main(["eval", str(trained.parent / "run" / "checkpoints" / "last.ckpt"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    page = out / "gallery" / "index.html"
    assert "gallery:" in printed and page.exists()
    parser = _Sources()
    parser.feed(page.read_text())
    assert parser.sources, "the page shows no pictures"
    for source in parser.sources:
        path = page.parent / source
        assert path.exists(), source
        with Image.open(path) as picture:
            assert picture.format == "PNG"
            picture.verify()
    assert "<svg" in page.read_text()  # the loss curve
    for task in ("scene.caption", "scene.refexp", "scene.text_to_image"):
        assert task in page.read_text()
    # Generated pictures are written as PNG files and named in generations.jsonl.
    rows = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    pictures = [r["prediction"] for r in rows if r["task"] == "scene.text_to_image"]
    assert pictures and all(Path(p).suffix == ".png" and Path(p).exists() for p in pictures)


def test_eval_reports_the_guidance_ablation_and_the_classifier_verdict(trained: Path, capsys) -> None:
    checkpoint = trained.parent / "run" / "checkpoints" / "last.ckpt"
    assert main(["eval", str(checkpoint), "--json", "--no-gallery", "--out", str(trained.parent / "e2")]) == 0
    summary = json.loads(capsys.readouterr().out)
    ablation = summary["guidance_ablation"]
    assert ablation["guidance_scale"] == 1.5 and ablation["guidance_scales"] == {"image": 1.5}
    (task, figures), = ablation["tasks"].items()
    assert task == "scene.text_to_image"
    assert {"scene_match", "object_recall"} <= set(figures["guided"]) == set(figures["unguided"])
    t2i = summary["tasks"]["scene.text_to_image"]
    assert {"scene_match", "object_recall", "psnr"} <= set(t2i["metrics"]) and set(t2i["chance"]) == set(t2i["metrics"])
    # A per-modality weight of 0 turns guidance (and so the ablation) off for that modality.
    assert main(["eval", str(checkpoint), "--json", "--no-gallery", "--out", str(trained.parent / "e3"),
                 "generate.guidance_scales.image=0"]) == 0
    assert "guidance_ablation" not in json.loads(capsys.readouterr().out)
    assert "acc@0.5" in summary["tasks"]["scene.refexp"]["metrics"]
    detect = summary["tasks"]["scene.detect"]
    assert 0.0 <= detect["metrics"]["map@0.5"] <= 1.0 and 0.0 <= detect["chance"]["map@0.5"] <= 1.0


def test_generated_pictures_are_exactly_one_code_grid(trained: Path) -> None:
    from uio.core.generation import DecodeOptions, generate
    from uio.core.inference import load_run

    loaded = load_run(trained.parent / "run" / "checkpoints" / "last.ckpt")
    raws = [r for r in loaded.run.dataset("heldout") if r["task"] == "scene.text_to_image"][:2]
    pipeline = loaded.run.pipeline()
    examples = [pipeline.for_inference(r, random.Random(i))[0] for i, r in enumerate(raws)]
    options = DecodeOptions(max_new_tokens=3, guidance_scale=2.0)
    assert loaded.output_length("image") == 16  # a 4x4 grid at 32 px with vq_num_down 3
    ids = generate(loaded.model, examples, ["image"] * 2, pipeline.vocab, loaded.run.modality_index, options,
                   lengths=[loaded.output_length("image")] * 2,
                   unconditional=[pipeline.without_prompt(e) for e in examples])
    image_range = pipeline.vocab.range("image")
    assert [len(row) for row in ids] == [16, 16]  # more than max_new_tokens, never fewer
    assert all(image_range.start <= i < image_range.end for row in ids for i in row)
    for r in loaded.generate(raws, options):
        assert r["prediction"].size == (32, 32)


def test_empty_prompts_and_masked_targets_reach_the_training_examples(trained: Path) -> None:
    run = assemble(load_config(trained, []))
    run.prepare_tokenizers(log=lambda *_: None)
    pipeline = run.pipeline()
    raws = [r for r in run.dataset("train") if r["task"] == "scene.text_to_image"]
    empty = masked = 0
    n = 200
    for k in range(n):
        ex = pipeline(raws[k % len(raws)], random.Random(k))
        empty += not ex.inputs
        for seg in ex.inputs:
            if seg.modality == "image" and seg.features.get("mask") is not None:
                masked += 1
                share = float(seg.features["mask"].float().mean())
                assert 0.5 < share < 1.0  # about mask_ratio (0.75) of the patches
    assert 0.35 * n < empty < 0.65 * n  # empty_prompt_rate 0.5
    assert masked > 0.1 * n  # image.masked_denoising has a third of the weight
    # Captions target text: their prompts are never emptied.
    captions = [r for r in run.dataset("train") if r["task"] == "scene.caption"]
    assert all(pipeline(captions[k % len(captions)], random.Random(k)).inputs for k in range(50))


def test_bad_pictures_in_a_manifest_are_named_or_skipped(tmp_path: Path, capsys) -> None:
    good = Image.new("RGB", (40, 30), (200, 10, 10))
    good.save(tmp_path / "good.png")
    Image.new("L", (32, 32), 128).save(tmp_path / "gray.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    lines = [{"id": f"ok{i}", "task": "caption", "input": {"image": "good.png"}, "target": {"text": "red"}}
             for i in range(6)]
    lines.append({"id": "broken", "task": "caption", "input": {"image": "corrupt.png"}, "target": {"text": "red"}})
    lines.append({"id": "gray", "task": "caption", "input": {"image": "gray.png"}, "target": {"text": "gray"}})
    manifest = tmp_path / "pictures.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    config = tmp_path / "manifest.yaml"
    text = CONFIG.format(out=tmp_path / "run")
    text = re.sub(r"    - dataset: scene_vision\n.*\n.*\n", f"    - dataset: jsonl\n      options: {{path: {manifest}, heldout_fraction: 0.0}}\n", text)
    config.write_text(text.replace("train: {max_steps: 2", "train: {max_steps: 4"))
    assert main(["train", str(config), "--no-progress"]) == 2
    assert "broken" in capsys.readouterr().err
    assert main(["train", str(config), "--no-progress", "data.skip_bad_examples=true"]) == 0
    printed = capsys.readouterr().out
    assert "skipped" in printed and "broken" in printed and "gray" not in printed  # gray converts


def test_a_picture_history_is_compressed_by_the_resampler(trained: Path) -> None:
    """Several frames -> one segment the perceiver resampler turns into its latents."""
    from uio.core.sequence import collate_rows

    run = assemble(load_config(trained, ["model.resampler.enabled=true", "model.resampler.latents=4",
                                         "model.resampler.layers=1"]))
    run.prepare_tokenizers(log=lambda *_: None)
    pipeline = run.pipeline()
    frames = [Image.new("RGB", (32, 32), (i * 60, 20, 200)) for i in range(3)]
    raw = {"task": "jsonl.generic", "id": "history",
           "input": [["text", "what changes?"], ["image", frames]], "target": {"text": "the red"}}
    example = pipeline(raw, random.Random(0))
    (history,) = [s for s in example.inputs if s.modality == "image"]
    assert history.compress and history.num_tokens == 3 * 16
    assert example.segment_tokens(history) == 4  # what it occupies after resampling
    model = run.build_model()
    batch = collate_rows([[example]], example.encoder_tokens, example.decoder_tokens, run.modality_index)
    out = model(batch)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    assert model.resampler.latents.grad is not None


def test_a_missing_weights_file_is_a_clear_error_naming_the_modality(trained: Path, capsys) -> None:
    code = main(["train", str(trained), "--no-progress", "modalities.image.tokenizer_weights=no/such/vqgan.pt"])
    assert code == 2
    err = capsys.readouterr().err
    assert "modalities.image" in err and "no/such/vqgan.pt" in err and "Traceback" not in err
