"""Box input encoder: a lookup of the location ids in the core's shared token embedding."""

from __future__ import annotations

from uio.plugins.blocks.id_embedding import SharedIdEmbedding


class BoxInputEncoder(SharedIdEmbedding):
    """Embeds location ids with the core's token embedding (see :class:`SharedIdEmbedding`)."""
