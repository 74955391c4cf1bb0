"""Text input encoder: a lookup in the core's shared token embedding."""

from __future__ import annotations

from uio.plugins.blocks.id_embedding import SharedIdEmbedding


class TextInputEncoder(SharedIdEmbedding):
    """Embeds text ids with the core's token embedding (see :class:`SharedIdEmbedding`)."""
