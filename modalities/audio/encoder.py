"""Audio input encoder: a timm ViT over spectrogram patches, projected to the model width.

The ViT, its weight loading and the masking are the shared patch-encoder block
(:mod:`uio.plugins.blocks.patch_encoder`), over one channel and a rectangular
``n_mels x frames`` grid (UIO2 encodes audio spectrograms with a ViT as it does
images, arXiv 2312.17172 sec. 3.1).
"""

from __future__ import annotations

from timm.models.vision_transformer import VisionTransformer

from uio.modalities.audio.config import AudioConfig
from uio.plugins import EncoderContext
from uio.plugins.blocks.patch_encoder import PatchEncoder, build_patch_vit, load_vit_weights


def build_audio_vit(config: AudioConfig) -> VisionTransformer:
    """The ViT over ``[B, 1, n_mels, frames]`` spectrograms, without class token, pooling or head."""
    return build_patch_vit(
        config.vit, grid_size=(config.n_mels, config.frames), patch_size=config.patch_size, in_channels=1
    )


class AudioInputEncoder(PatchEncoder):
    """Spectrogram payloads -> one ``d_model`` embedding per patch (row-major: mel-band
    patches by time patches).

    Each payload is an audio segment's features (see
    :class:`~uio.modalities.audio.processor.AudioProcessor`):
    ``{"spectrogram": [1, 1, n_mels, frames], "mask": None or bool [patches]}``.
    Masked patches are zeroed (the middle of the normalised scale) and get a
    learned mask embedding; with ``vit.trainable: false`` the ViT is frozen and
    stays in eval mode. ``vit.weights`` loads a timm ViT state dict of this shape.
    """

    def __init__(self, config: AudioConfig, ctx: EncoderContext) -> None:
        vit = build_audio_vit(config)
        if config.vit.weights is not None:
            load_vit_weights(vit, config.vit.weights, field="audio.vit.weights")
        super().__init__(
            vit,
            ctx.d_model,
            trainable=config.vit.trainable,
            key="spectrogram",
            name="audio",
            hint="audio.n_mels x audio.frames",
        )
