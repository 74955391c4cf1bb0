"""Small builders shared by the core tests: a trunk with one discrete modality."""

from __future__ import annotations

import torch
from torch import nn

from uio.core.sequence import ModelExample
from uio.core.transformer import TrunkShape, UIOTransformer
from uio.core.vocab import Vocabulary
from uio.plugins.spec import EncoderContext, Segment


class LookupEncoder(nn.Module):
    """Embeds global ids with the core's shared table."""

    def __init__(self, ctx: EncoderContext) -> None:
        super().__init__()
        self.ctx = ctx

    def forward(self, payloads):
        return self.ctx.embed_ids(torch.cat(payloads))


def tiny_shape(**overrides) -> TrunkShape:
    fields = dict(d_model=32, n_heads=4, head_dim=8, encoder_layers=2, decoder_layers=2, mlp_dim=64)
    fields.update(overrides)
    return TrunkShape(**fields)


def tiny_vocab() -> Vocabulary:
    return Vocabulary([("tokens", 40)], ["obj.a"], num_sentinels=4)


def tiny_model(vocab: Vocabulary, **overrides) -> UIOTransformer:
    torch.manual_seed(0)
    return UIOTransformer(tiny_shape(**overrides), vocab.size, {"tokens": LookupEncoder})


def example(vocab: Vocabulary, inputs: list[int], target: list[int], task: str = "t") -> ModelExample:
    r = vocab.range("tokens")
    ids = torch.tensor([r.start + i for i in inputs])
    return ModelExample(
        core_ids=[vocab.prefix_ids["obj.a"]],
        inputs=[Segment("tokens", ids=ids)],
        target_ids=[r.start + i for i in target],
        start_id=vocab.start_ids["tokens"],
        task=task,
        meta={"target": "tokens"},
    )
