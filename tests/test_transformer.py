"""The trunk: UIO2 parameter counts, packed-attention isolation, switches."""

from __future__ import annotations

import pytest
import torch
from core_fixtures import example, tiny_model, tiny_shape, tiny_vocab

from uio.core.masks import block_mask
from uio.core.sequence import collate_rows
from uio.core.transformer import TrunkShape, UIOTransformer, count_parameters


def trunk_formula(d: int, heads: int, head_dim: int, mlp: int, enc: int, dec: int) -> tuple[int, int]:
    """Parameters of UIO2's trunk: no biases, QK-norm scales per head dim, SwiGLU (3 matrices)."""
    inner = heads * head_dim
    attn = 4 * d * inner + 2 * head_dim
    mlp_params = 3 * d * mlp
    encoder = enc * (attn + mlp_params + 2 * d) + d
    decoder = dec * (2 * attn + mlp_params + 3 * d) + d
    return encoder, decoder


@pytest.mark.parametrize(
    "d,heads,head_dim,mlp",
    [(1024, 16, 64, 2816), (2048, 16, 128, 5120), (3072, 24, 128, 8192)],
    ids=["uio2-large", "uio2-xl", "uio2-xxl"],
)
def test_uio2_trunk_counts_match_formula_on_meta(d, heads, head_dim, mlp):
    shape = TrunkShape(d_model=d, n_heads=heads, head_dim=head_dim, encoder_layers=24,
                       decoder_layers=24, mlp_dim=mlp)
    with torch.device("meta"):
        model = UIOTransformer(shape, 1024, {})
    counts = count_parameters(model)
    enc, dec = trunk_formula(d, heads, head_dim, mlp, 24, 24)
    assert counts["trunk:encoder"] == enc
    assert counts["trunk:decoder"] == dec
    if d == 1024:
        # Counted from UIO2's released PyTorch port built with random weights (DESIGN.md).
        assert (enc, dec) == (308_334_592, 409_025_536)


def test_block_mask_keeps_examples_apart_and_causal():
    seg = torch.tensor([[1, 1, 2, 2, 0]])
    m = block_mask(seg, seg, causal=True)[0, 0]
    assert m[1, 0] and not m[0, 1]  # causal within example 1
    assert not m[2, 1] and m[3, 2]  # example 2 cannot see example 1
    assert m[4, 4] and not m[4, 0]  # padding sees padding only
    full = block_mask(torch.tensor([[1, 1]]), torch.tensor([[2, 2]]), causal=False)[0, 0]
    assert full.all()  # nothing visible -> everything (no NaN); outputs are ignored


def _loss_of(model, rows, vocab):
    batch = collate_rows(rows, 24, 8, {"tokens": 1})
    return model(batch)


def test_packed_rows_equal_separate_rows():
    """Packing two examples in one row gives the same loss as one row each."""
    vocab = tiny_vocab()
    model = tiny_model(vocab).eval()
    a = example(vocab, [1, 2, 3, 4], [5, 6])
    b = example(vocab, [7, 8, 9], [10, 11, 12])
    packed = collate_rows([[a, b]], 24, 8, {"tokens": 1})
    separate = collate_rows([[a], [b]], 24, 8, {"tokens": 1})
    with torch.no_grad():
        lp = model(packed)["ce"]
        ls = model(separate)["ce"]
    torch.testing.assert_close(lp, ls, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attention", ["qk_norm", "scaled_cosine", "plain"])
@pytest.mark.parametrize("mlp", ["swiglu", "gelu"])
def test_switches_train(attention, mlp):
    vocab = tiny_vocab()
    model = tiny_model(vocab, attention=attention, mlp=mlp, rotary=attention != "plain")
    batch = collate_rows([[example(vocab, [1, 2, 3], [4, 5])]], 8, 4, {"tokens": 1})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = model(batch)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first * 0.5


def test_z_loss_is_added():
    vocab = tiny_vocab()
    batch = collate_rows([[example(vocab, [1, 2], [3])]], 8, 4, {"tokens": 1})
    with_z = tiny_model(vocab, z_loss=1.0)(batch)
    assert with_z["z_loss"] > 0
    torch.testing.assert_close(with_z["loss"], with_z["ce"] + with_z["z_loss"])


def test_resampler_compresses_to_latents():
    shape = tiny_shape(resampler_enabled=True, resampler_latents=5, resampler_layers=1)
    model = UIOTransformer(shape, 64, {})
    out = model.resampler(torch.randn(17, 32))
    assert out.shape == (5, 32)
    counts = count_parameters(model)
    assert counts["resampler"] > 0


def test_sdpa_equals_written_out_attention_on_packed_rows():
    vocab = tiny_vocab()
    a = example(vocab, [1, 2, 3, 4], [5, 6])
    b = example(vocab, [7, 8, 9], [10, 11, 12])
    batch = collate_rows([[a, b], [b]], 24, 8, {"tokens": 1})
    with torch.no_grad():
        sdpa = tiny_model(vocab, attention_backend="sdpa").eval()(batch)["ce"]
        math = tiny_model(vocab, attention_backend="eager").eval()(batch)["ce"]
    torch.testing.assert_close(sdpa, math, rtol=1e-5, atol=1e-5)


def test_the_trunk_leaves_the_input_encoders_weights_alone():
    """A plugin's encoder may load pretrained weights in its factory: building the trunk
    around it must not re-initialise them."""
    from torch import nn

    class Pretrained(nn.Module):
        def __init__(self, ctx):
            super().__init__()
            self.proj = nn.Linear(4, ctx.d_model)
            nn.init.constant_(self.proj.weight, 0.125)

        def forward(self, payloads):
            return self.proj(torch.cat(payloads))

    vocab = tiny_vocab()
    model = UIOTransformer(tiny_shape(), vocab.size, {"tokens": Pretrained})
    assert torch.all(model.input_encoders["tokens"].proj.weight == 0.125)
    trunk = model.encoder_layers[0]
    assert any(isinstance(m, nn.Linear) and m.weight.std() > 0 for m in trunk.modules())
