"""Objectives for audio targets (UIO2's denoisers for audio, arXiv 2312.17172 sec. 5.1).

- ``audio.direct`` [S]: generate the clip's codes from the task's inputs.
- ``audio.masked_denoising`` [R]: the target clip's spectrogram joins the inputs
  with ``audio.mask_ratio`` of its patches masked; the decoder produces all its codes.

Both are the shared blocks of :mod:`uio.plugins.blocks.objectives`.
"""

from __future__ import annotations

from uio.plugins.blocks.objectives import generate_target, masked_denoising

DIRECT = generate_target("audio", "[S] generate the clip's audio codes from the task's inputs")
MASKED_DENOISING = masked_denoising(
    "audio",
    "[R] the target clip's spectrogram joins the inputs with audio.mask_ratio of its patches "
    "masked; generate all its codes",
)
OBJECTIVES = [DIRECT, MASKED_DENOISING]
