"""The built-in image modality: config presets, value loading, VQ tokenizer, ViT encoder,
masked denoising, PNG output, weight files and registration."""

from __future__ import annotations

import io
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

from uio.modalities.image import (
    DIRECT,
    MASKED_DENOISING,
    ImageConfig,
    ImageInputEncoder,
    ImageOutputDecoder,
    ImageProcessor,
    ImageTokenizer,
    VitConfig,
    build_vit,
    load_frames,
    load_image,
)
from uio.modalities.image.decoder import MAX_PSNR
from uio.modalities.image.plugin import IMAGE_SPEC
from uio.plugins import (
    EncoderContext,
    FileDecoder,
    FitValueProcessor,
    FixedLengthDecoder,
    ObjectiveContext,
    ObjectiveExample,
    ProcessContext,
    Segment,
    TrainableTokenizer,
)
from uio.plugins.blocks.weights import load_state_file, resolve_weights
from uio.plugins.registry import get_registry, reset_registry

pytest_plugins = ["uio.plugins.testing"]

#: A tiny config: 16 px images, 2x2 patches in, 4x4 codes out; fits in a few seconds.
TINY = {
    "input_size": 16,
    "patch_size": 8,
    "vit": {"width": 16, "depth": 1, "heads": 2},
    "target_size": 16,
    "codebook_size": 32,
    "vq_num_down": 2,
    "vq_base_channels": 8,
    "vq_latent_dim": 8,
    "fit_steps": 30,
    "fit_batch_size": 4,
    "fit_adversarial_start": 15,
    "fit_device": "cpu",
}
CTX = ProcessContext(example_id="ex-1")
D_MODEL = 12


def tiny(**overrides) -> ImageConfig:
    return ImageConfig(**{**TINY, **overrides})


def pictures(count: int = 16, side: int = 16) -> list[np.ndarray]:
    """Flat-coloured squares, each with a block of another colour at its own place."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        a = np.empty((side, side, 3), np.uint8)
        a[:] = rng.integers(0, 256, 3)
        top, left = (i * 3) % (side // 2), (i * 5) % (side // 2)
        a[top : top + side // 2, left : left + side // 2] = rng.integers(0, 256, 3)
        out.append(a)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread while this module runs, restored after: on a small machine shared
    with other jobs, a second thread mostly waits at OpenMP barriers (benchmarks/README.md),
    which made the tiny VQ-GAN fits here 10-70x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fitted(one_thread, tmp_path_factory) -> tuple[ImageTokenizer, dict[str, float], Path]:
    tokenizer = ImageTokenizer(tiny())
    out_dir = tmp_path_factory.mktemp("fit")
    figures = tokenizer.fit(pictures(), out_dir)
    return tokenizer, figures, out_dir


def encoder_ctx() -> EncoderContext:
    return EncoderContext(d_model=D_MODEL, embed_ids=torch.nn.Embedding(8, D_MODEL))


# --------------------------------------------------------------------------- config


def test_presets_fill_what_the_user_did_not_set() -> None:
    cpu = ImageConfig()
    assert (cpu.input_size, cpu.patch_size, cpu.target_size, cpu.grid) == (64, 8, 32, 8)
    assert cpu.num_codes == 64 and cpu.codebook_size == 512 and cpu.vit.trainable
    uio2 = ImageConfig(preset="uio2")
    assert (uio2.input_size, uio2.patch_size) == (384, 16)
    assert (uio2.grid, uio2.codebook_size, uio2.target_size) == (32, 16384, 256)
    assert (uio2.vit.width, uio2.vit.depth, uio2.vit.heads, uio2.vit.trainable) == (768, 12, 12, False)
    mixed = ImageConfig(preset="uio2", target_size=128, vit={"depth": 2})
    assert mixed.grid == 16 and mixed.input_size == 384
    assert (mixed.vit.width, mixed.vit.depth) == (768, 2)
    # A VitConfig instance: only the fields set on it override the preset.
    assert ImageConfig(preset="uio2", vit=VitConfig(depth=3)).vit.width == 768
    assert ImageConfig(fit_steps=100).adversarial_start == 50
    assert IMAGE_SPEC.vocab_size_for(uio2) == 16384


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"input_size": 60}, "image.input_size=60 is not a multiple of image.patch_size=8"),
        ({"target_size": 30}, r"image.target_size=30 is not divisible by 2\*\*image.vq_num_down=4"),
        ({"vit": {"width": 30, "heads": 4}}, "not divisible by image.vit.heads=4"),
        ({"mask_ratio": 1.0}, "mask_ratio"),
        ({"preset": "huge"}, "preset"),
        ({"patch": 8}, "patch"),  # extra="forbid" catches typos
    ],
)
def test_bad_config_is_named(fields, message) -> None:
    with pytest.raises(ValidationError, match=message):
        ImageConfig(**fields)


# --------------------------------------------------------------------------- values


def test_png_relative_to_base_dir_and_histories(tmp_path: Path) -> None:
    array = pictures(1, side=20)[0]
    (tmp_path / "img").mkdir()
    Image.fromarray(array).save(tmp_path / "img" / "a.png")
    ctx = ProcessContext(base_dir=tmp_path, example_id="ex-1")
    loaded = load_image("img/a.png", ctx, side=20, role="input")
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, array)
    assert load_image(tmp_path / "img" / "a.png", ctx, side=10, role="input").shape == (10, 10, 3)
    frames = load_frames(["img/a.png", Image.fromarray(array)], ctx, side=8, role="input")
    assert len(frames) == 2 and all(f.shape == (8, 8, 3) for f in frames)
    # torchvision's layout (3 x H x W floats in [0, 1]) reads as the same image.
    chw = torch.from_numpy(array).permute(2, 0, 1).float() / 255
    assert np.array_equal(load_image(chw, ctx, side=20, role="input"), array)


def test_grayscale_file_converted_or_refused_when_strict(tmp_path: Path) -> None:
    Image.new("L", (16, 16), 200).save(tmp_path / "gray.png")
    ctx = ProcessContext(base_dir=tmp_path, example_id="ex-9")
    rgb = load_image("gray.png", ctx, side=16, role="input")
    assert rgb.shape == (16, 16, 3) and (rgb == 200).all()
    with pytest.raises(ValueError, match=r"example 'ex-9': image target .*gray\.png has mode 'L'; expected 'RGB'"):
        load_image("gray.png", ctx, side=16, role="target", strict=True)


def test_strict_refuses_other_sizes(tmp_path: Path) -> None:
    Image.new("RGB", (20, 20)).save(tmp_path / "big.png")
    ctx = ProcessContext(base_dir=tmp_path, example_id="ex-2")
    with pytest.raises(ValueError, match=r"example 'ex-2'.* is 20x20 pixels; expected 8x8 or 16x16"):
        load_image("big.png", ctx, side=16, role="input", strict=True, strict_sides=(8,))
    assert load_image("big.png", ctx, side=16, role="input", strict=True, strict_sides=(20,)).shape == (16, 16, 3)


def test_missing_and_corrupt_files_name_the_path(tmp_path: Path) -> None:
    ctx = ProcessContext(base_dir=tmp_path, example_id="ex-3")
    with pytest.raises(ValueError, match=f"example 'ex-3': image input file {tmp_path / 'nope.png'} does not exist"):
        load_image("nope.png", ctx, side=16, role="input")
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="PNG")
    (tmp_path / "bad.png").write_bytes(buffer.getvalue()[:45])  # header, then cut off in the pixels
    with pytest.raises(ValueError, match=f"example 'ex-3': image target file {tmp_path / 'bad.png'} cannot be read"):
        load_image("bad.png", ctx, side=16, role="target")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="cannot be read as an image"):
        load_image("text.png", ctx, side=16, role="target")


@pytest.mark.parametrize(
    "value,error,message",
    [
        (np.zeros((16, 16), np.uint8), ValueError, "expected H x W x 3.*grayscale"),
        (np.zeros((16, 16, 4), np.uint8), ValueError, "expected H x W x 3"),
        (np.full((3, 8, 8), np.nan, np.float32), ValueError, "NaN"),
        (np.full((3, 8, 8), 2.0, np.float32), ValueError, r"expected floats in \[0, 1\]"),
        (np.zeros((8, 8, 3), np.float32), ValueError, "expected 3 x H x W"),
        (np.zeros((8, 8, 3), np.int64), TypeError, "dtype int64"),
        (np.zeros((0, 8, 3), np.uint8), ValueError, "empty"),
        ([], ValueError, "empty history"),
        (42, TypeError, "is a int; expected a PIL image"),
    ],
)
def test_bad_values_name_the_example(value, error, message) -> None:
    with pytest.raises(error, match=message) as info:
        load_frames(value, CTX, side=8, role="input")
    assert "example 'ex-1': image input" in str(info.value)


# --------------------------------------------------------------------------- processor


def test_input_segment_shapes_and_positions() -> None:
    config = tiny()
    processor = ImageProcessor(config, ImageTokenizer(config))
    seg = processor.input_segment(pictures(1, side=40)[0], CTX)
    pixels = seg.features["pixels"]
    assert seg.modality == "image" and seg.ids is None and not seg.compress
    assert pixels.shape == (1, 3, 16, 16) and pixels.dtype == torch.float32
    assert -1.0 <= float(pixels.min()) and float(pixels.max()) <= 1.0
    assert seg.features["mask"] is None and seg.num_tokens == 4
    assert seg.positions.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]

    history = processor.input_segment(pictures(3), CTX)
    assert history.compress and history.positions is None
    assert history.num_tokens == 12 and history.features["pixels"].shape == (3, 3, 16, 16)

    clone = pickle.loads(pickle.dumps(processor))
    assert torch.equal(
        clone.input_segment(pictures(1)[0], CTX).features["pixels"],
        processor.input_segment(pictures(1)[0], CTX).features["pixels"],
    )


def test_target_ids_need_a_fitted_tokenizer() -> None:
    config = tiny()
    processor = ImageProcessor(config, ImageTokenizer(config))
    with pytest.raises(RuntimeError, match="example 'ex-1'.*run `uio fit-tokenizer"):
        processor.target_ids(pictures(1)[0], CTX)
    value = processor.fit_value(pictures(1, side=40)[0], CTX)
    assert value.shape == (16, 16, 3) and value.dtype == np.uint8


# --------------------------------------------------------------------------- tokenizer


def test_fit_reports_figures_and_draws_reconstructions(fitted) -> None:
    tokenizer, figures, out_dir = fitted
    assert tokenizer.is_fitted
    assert set(figures) == {"heldout_psnr", "codebook_usage", "steps"}
    assert figures["steps"] == 30 and 0 < figures["codebook_usage"] <= 1
    assert 5 < figures["heldout_psnr"] < 60
    with Image.open(out_dir / "reconstructions.png") as sheet:
        sheet.verify()


def test_fit_is_reproducible_and_counts_history_frames(tmp_path: Path) -> None:
    config = tiny(fit_steps=3, fit_adversarial_start=1)
    first, second = ImageTokenizer(config), ImageTokenizer(config)
    a = first.fit(pictures(8), tmp_path / "a")
    b = second.fit([pictures(8)[:4], *pictures(8)[4:]], tmp_path / "b")  # a history: 4 frames
    assert a == b and first.fingerprint() == second.fingerprint()


def test_target_ids_are_the_code_grid(fitted) -> None:
    tokenizer, _, _ = fitted
    processor = ImageProcessor(tokenizer.config, tokenizer)
    ids = processor.target_ids(pictures()[0], CTX)
    assert len(ids) == 16 and all(isinstance(i, int) and 0 <= i < 32 for i in ids)
    assert ids == tokenizer.encode(pictures()[0])
    with pytest.raises(ValueError, match="a target must be one image"):
        processor.target_ids(pictures(2), CTX)


def test_state_round_trip_and_tokenizer_weights(fitted, tmp_path: Path) -> None:
    tokenizer, _, _ = fitted
    path = tmp_path / "image.pt"
    torch.save(tokenizer.state_dict(), path)
    state = torch.load(path, weights_only=True)
    fresh = ImageTokenizer(tiny())
    assert not fresh.is_fitted and fresh.fingerprint() != tokenizer.fingerprint()
    fresh.load_state_dict(state)
    assert fresh.is_fitted and fresh.fingerprint() == tokenizer.fingerprint()
    for picture in pictures(4):
        assert fresh.encode(picture) == tokenizer.encode(picture)

    built = ImageTokenizer(tiny(tokenizer_weights=str(path)))
    assert built.is_fitted and built.fingerprint() == tokenizer.fingerprint()
    with pytest.raises(ValueError, match=r"codebook_size=32 \(config: 64\).*fix: set image.codebook_size=32"):
        ImageTokenizer(tiny(codebook_size=64, tokenizer_weights=str(path)))
    with pytest.raises(FileNotFoundError, match="no such file"):
        ImageTokenizer(tiny(tokenizer_weights=str(tmp_path / "missing.pt")))


def test_decode_pads_or_cuts_the_grid(fitted) -> None:
    tokenizer, _, _ = fitted
    ids = tokenizer.encode(pictures()[0])
    image = tokenizer.decode(ids)
    assert image.size == (16, 16) and image.mode == "RGB"
    short = np.asarray(tokenizer.decode(ids[:5]))
    assert np.array_equal(short, np.asarray(tokenizer.decode(ids[:5] + [0] * 11)))
    assert np.array_equal(np.asarray(tokenizer.decode(ids + [1, 2, 3])), np.asarray(image))
    assert np.array_equal(np.asarray(tokenizer.decode([99] + ids[1:])), np.asarray(tokenizer.decode([0] + ids[1:])))


# --------------------------------------------------------------------------- encoder


def test_encoder_shapes_masks_and_gradients() -> None:
    config = tiny()
    processor = ImageProcessor(config, ImageTokenizer(config))
    encoder = ImageInputEncoder(config, encoder_ctx())
    one = processor.input_segment(pictures(1)[0], CTX).features
    history = processor.input_segment(pictures(3), CTX).features
    out = encoder([one, history])
    assert out.shape == (4 + 12, D_MODEL) and torch.isfinite(out).all()

    masked = {**one, "mask": torch.tensor([True, False, False, True])}
    out_masked = encoder([masked])
    assert out_masked.shape == (4, D_MODEL)
    assert not torch.allclose(out_masked[0], out[0])
    out_masked.sum().backward()
    assert encoder.proj.weight.grad is not None and encoder.mask_embedding.grad is not None
    assert encoder.vit.patch_embed.proj.weight.grad is not None  # trainable by default


def test_frozen_vit_gets_no_gradients_and_stays_in_eval() -> None:
    config = tiny(vit={"width": 16, "depth": 1, "heads": 2, "trainable": False})
    encoder = ImageInputEncoder(config, encoder_ctx())
    encoder.train()
    assert encoder.training and not encoder.vit.training and encoder.proj.training
    pixels = torch.rand(2, 3, 16, 16) * 2 - 1
    encoder([{"pixels": pixels, "mask": None}]).sum().backward()
    assert all(p.grad is None and not p.requires_grad for p in encoder.vit.parameters())
    assert encoder.proj.weight.grad is not None


@pytest.mark.parametrize(("patch", "side", "strides"), [(8, 32, [2, 2, 2]), (12, 48, [2, 2, 3]), (2, 16, [2])])
def test_conv_stem_covers_each_patch_and_trains(patch: int, side: int, strides: list[int]) -> None:
    config = tiny(input_size=side, patch_size=patch, vit={**TINY["vit"], "stem": "conv", "stem_channels": 4})
    encoder = ImageInputEncoder(config, encoder_ctx())
    convs = [m for m in encoder.vit.patch_embed.proj if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == strides
    assert convs[-1].out_channels == TINY["vit"]["width"]
    pixels = torch.rand(2, 3, side, side) * 2 - 1
    out = encoder([{"pixels": pixels, "mask": None}])
    assert out.shape == (2 * (side // patch) ** 2, encoder_ctx().d_model)
    out.sum().backward()
    assert all(c.weight.grad is not None and c.weight.grad.abs().sum() > 0 for c in convs)


def test_vit_weights_load_from_a_file(tmp_path: Path) -> None:
    config = tiny()
    source = build_vit(config)
    save_file(source.state_dict(), tmp_path / "vit.safetensors")
    encoder = ImageInputEncoder(
        tiny(vit={**TINY["vit"], "weights": str(tmp_path / "vit.safetensors")}), encoder_ctx()
    )
    for name, tensor in source.state_dict().items():
        assert torch.equal(encoder.vit.state_dict()[name], tensor), name

    # An ImageNet-style state (class token, head) fits after dropping both.
    timm_style = VisionTransformer(img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=10)
    torch.save(timm_style.state_dict(), tmp_path / "timm.pth")
    ImageInputEncoder(tiny(vit={**TINY["vit"], "weights": str(tmp_path / "timm.pth")}), encoder_ctx())

    wide = build_vit(tiny(vit={"width": 32, "depth": 2, "heads": 2}))
    torch.save(wide.state_dict(), tmp_path / "wide.pt")
    with pytest.raises(ValueError, match=r"wide\.pt.*does not fit the configured ViT.*unexpected: blocks\.1\..*mis-shaped"):
        ImageInputEncoder(tiny(vit={**TINY["vit"], "weights": str(tmp_path / "wide.pt")}), encoder_ctx())


def test_weight_specs_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = resolve_weights("pkg://uio.plugins.blocks/weights.py")
    assert shipped.is_file() and shipped.name == "weights.py"
    with pytest.raises(FileNotFoundError, match="pkg://uio.plugins.blocks/none.pt"):
        resolve_weights("pkg://uio.plugins.blocks/none.pt")
    with pytest.raises(FileNotFoundError, match="not installed"):
        resolve_weights("pkg://no_such_package_xyz/w.pt")
    monkeypatch.chdir(tmp_path)
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pt")
    assert resolve_weights("w.pt") == tmp_path / "w.pt"
    assert torch.equal(load_state_file(resolve_weights("w.pt"))["w"], torch.ones(2))
    with pytest.raises(FileNotFoundError, match=f"'gone.pt': no such file {tmp_path / 'gone.pt'}"):
        resolve_weights("gone.pt")
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="suffix '.npz'; expected .safetensors"):
        load_state_file(tmp_path / "w.npz")


# --------------------------------------------------------------------------- objectives


def test_masked_denoising_masks_a_share_of_the_target_input() -> None:
    config = tiny(input_size=64, mask_ratio=0.75)  # 8x8 = 64 patches
    processor = ImageProcessor(config, ImageTokenizer(config))
    target_input = processor.input_segment(pictures(1)[0], CTX)
    target = Segment("image", ids=torch.arange(16) + 100)
    prompt = Segment("text", ids=torch.tensor([5, 6]))
    example = ObjectiveExample(inputs=[prompt], target=target, task="t", target_input=target_input)
    ctx = ObjectiveContext(sentinel_ids=(1, 2), modality_ranges={"image": (100, 132)})

    out = MASKED_DENOISING.apply(example, random.Random(0), ctx)
    assert MASKED_DENOISING.needs_target_input and MASKED_DENOISING.prefix == "R"
    assert out.inputs[0] is prompt and len(out.inputs) == 2
    mask = out.inputs[1].features["mask"]
    assert mask.dtype == torch.bool and int(mask.sum()) == 48
    assert torch.equal(out.target.ids, target.ids)
    assert target_input.features["mask"] is None  # the processor's segment is not changed
    again = MASKED_DENOISING.apply(example, random.Random(0), ctx)
    assert torch.equal(again.inputs[1].features["mask"], mask)

    encoder = ImageInputEncoder(config, encoder_ctx())
    assert encoder([out.inputs[1].features]).shape == (64, D_MODEL)
    with pytest.raises(ValueError, match="needs ObjectiveExample.target_input"):
        MASKED_DENOISING.apply(ObjectiveExample(inputs=[], target=target), random.Random(0), ctx)
    assert DIRECT.name == "image.direct" and DIRECT.apply(example, random.Random(0), ctx) is example


# --------------------------------------------------------------------------- decoder


def test_decoder_writes_scores_and_renders(fitted, tmp_path: Path) -> None:
    tokenizer, _, _ = fitted
    decoder = ImageOutputDecoder(tokenizer.config, tokenizer)
    assert decoder.output_length == 16 and decoder.file_suffix == ".png"
    image = decoder.decode(tokenizer.encode(pictures()[0]))
    written = decoder.write(image, tmp_path / "out" / "sample")
    assert written == tmp_path / "out" / "sample.png"
    with Image.open(written) as reopened:
        reopened.verify()
    with Image.open(written) as reopened:
        assert reopened.size == (16, 16) and np.array_equal(np.asarray(reopened), np.asarray(image))
    assert decoder.picture(image) is image
    assert decoder.picture(pictures(1, side=20)[0]).size == (20, 20)  # its own size
    assert decoder.render(image) == "<image 16x16>"

    assert decoder.score(image, image) == {"psnr": MAX_PSNR}
    assert decoder.score(image, str(written)) == {"psnr": MAX_PSNR}
    assert 5 < decoder.score(image, pictures()[0])["psnr"] < MAX_PSNR
    assert decoder.score(image, str(tmp_path / "missing.png")) == {}


# --------------------------------------------------------------------------- contract and registry


#: Enough to check the contract, not to learn anything.
CONTRACT_CONFIG = {**TINY, "fit_steps": 2}


def test_contract(uio_contract) -> None:
    uio_contract(IMAGE_SPEC, config=CONTRACT_CONFIG, sample_values=pictures(4))


class _AnyScoreDecoder(ImageOutputDecoder):
    """Scores 1.0 whenever the image decoder scores at all, to check the rest of the contract."""

    def score(self, prediction, reference):
        return {"scored": 1.0} if super().score(prediction, reference) else {}


def test_contract_apart_from_the_lossy_round_trip(uio_contract) -> None:
    spec = IMAGE_SPEC.model_copy(update={"build_output_decoder": _AnyScoreDecoder})
    uio_contract(spec, config=CONTRACT_CONFIG, sample_values=pictures(4))


def test_implements_the_optional_protocols(fitted) -> None:
    tokenizer, _, _ = fitted
    config = tokenizer.config
    assert isinstance(tokenizer, TrainableTokenizer)
    assert isinstance(ImageProcessor(config, tokenizer), FitValueProcessor)
    decoder = ImageOutputDecoder(config, tokenizer)
    assert isinstance(decoder, FixedLengthDecoder) and isinstance(decoder, FileDecoder)


def test_registers_through_its_entry_point(uio_isolated_registry) -> None:
    registry = uio_isolated_registry.use_builtin("image")
    assert registry.plugin("image").status == "ok"
    spec = registry.modalities["image"]
    assert spec.guidance and spec.position_dims == 2
    assert [o.name for o in registry.objectives_for("image")] == ["image.direct", "image.masked_denoising"]


def test_listed_by_the_default_registry() -> None:
    reset_registry()
    try:
        assert "image" in get_registry().modalities
    finally:
        reset_registry()
