"""An input encoder for discrete segments: their ids looked up in the core's shared embedding."""

from __future__ import annotations

import torch
from torch import nn

from uio.plugins.spec import EncoderContext


class SharedIdEmbedding(nn.Module):
    """Embeds global ids with the core's token embedding, tied with the output as in UIO2.

    It owns no parameters. The context is kept rather than ``embed_ids`` itself:
    were ``embed_ids`` an ``nn.Embedding``, assigning it would register the shared
    table as a submodule here too (counted and saved twice).
    """

    def __init__(self, ctx: EncoderContext) -> None:
        super().__init__()
        self.d_model = ctx.d_model
        self._ctx = ctx

    def forward(self, payloads: list[torch.Tensor]) -> torch.Tensor:
        """``[sum of lengths, d_model]`` embeddings of the concatenated id tensors."""
        if not payloads:
            raise ValueError(f"{type(self).__name__} got no segments to embed")
        ids = torch.cat([p.reshape(-1) for p in payloads]).long()
        return self._ctx.embed_ids(ids)
