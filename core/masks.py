"""Attention masks of packed rows: built once per batch, shared by every layer.

A packed row holds several examples, told apart by segment ids (0 = padding).
The encoder attends within an example, the decoder causally within one, and
cross-attention only to its own example's encoder tokens. :class:`SegmentMask`
carries that rule in the form the attention backend wants: a dense boolean
mask for SDPA or the written-out reference, or a FlexAttention ``BlockMask``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


def block_mask(q_segments: torch.Tensor, k_segments: torch.Tensor, causal: bool) -> torch.Tensor:
    """Boolean attention mask ``[B, 1, Lq, Lk]`` for packed rows.

    A query attends to keys of its own example (equal segment id), and for
    ``causal`` only to earlier positions. Padding (segment 0) attends to padding,
    and a query that would see nothing sees everything, so softmax never meets
    an all-masked row (those outputs are ignored anyway).
    """
    mask = q_segments.unsqueeze(-1) == k_segments.unsqueeze(-2)
    if causal:
        lq, lk = q_segments.shape[-1], k_segments.shape[-1]
        mask = mask & torch.ones(lq, lk, dtype=torch.bool, device=mask.device).tril()
    mask = mask | ~mask.any(-1, keepdim=True)
    return mask.unsqueeze(1)


@dataclass(frozen=True, eq=False)
class SegmentMask:
    """Who attends to whom in a packed batch, in the one form its backend uses.

    Exactly one of ``dense`` (``[B, 1, Lq, Lk]`` booleans) and ``block`` (a
    FlexAttention ``BlockMask``) is set. Build with :meth:`build`.
    """

    q_segments: torch.Tensor
    k_segments: torch.Tensor
    causal: bool
    dense: torch.Tensor | None = None
    block: Any = None

    @classmethod
    def build(
        cls, q_segments: torch.Tensor, k_segments: torch.Tensor, causal: bool, backend: str
    ) -> SegmentMask:
        """The mask for ``backend`` (``flex``: a ``BlockMask``; otherwise dense)."""
        if backend == "flex":
            from uio.core.kernels.flex_attention import segment_block_mask

            block = segment_block_mask(q_segments, k_segments, causal)
            return cls(q_segments, k_segments, causal, block=block)
        return cls(q_segments, k_segments, causal, dense=block_mask(q_segments, k_segments, causal))

    def as_dense(self) -> torch.Tensor:
        """The dense boolean mask (built now if this one holds a ``BlockMask``)."""
        if self.dense is not None:
            return self.dense
        return block_mask(self.q_segments, self.k_segments, self.causal)
