"""Box input encoder: a lookup of the location ids in the core's shared token embedding."""

from __future__ import annotations

import torch
from torch import nn

from uio.plugins import EncoderContext


class BoxInputEncoder(nn.Module):
    """Embeds global location ids with the core's token embedding (tied with the output).

    It owns no parameters and keeps the context rather than ``embed_ids``: were
    that an ``nn.Embedding``, assigning it would register the shared table here too.
    """

    def __init__(self, ctx: EncoderContext) -> None:
        super().__init__()
        self.d_model = ctx.d_model
        self._ctx = ctx

    def forward(self, payloads: list[torch.Tensor]) -> torch.Tensor:
        """``[sum of lengths, d_model]`` embeddings of the concatenated id tensors."""
        if not payloads:
            raise ValueError("BoxInputEncoder got no segments to embed")
        ids = torch.cat([p.reshape(-1) for p in payloads]).long()
        return self._ctx.embed_ids(ids)
