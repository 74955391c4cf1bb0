"""uio.modalities.box — the built-in bounding-box modality (UIO2's location bins).

A raw value is a dict of boxes ``[x1, y1, x2, y2]``, in pixels with the image
size, or normalised to ``[0, 1]`` without it::

    {"boxes": [[12, 40, 200, 310], [0, 0, 64, 64]], "size": [640, 480]}
    {"boxes": [[0.1, 0.2, 0.5, 0.9]]}

Each coordinate becomes one of ``num_bins`` location ids (UIO2: 1000), so a box
is 4 ids; decoding gives normalised boxes at bin centres. The output decoder
scores IoU; :func:`detection_map` computes mAP over many images.
"""

from uio.modalities.box.config import BoxConfig
from uio.modalities.box.decoder import BoxOutputDecoder
from uio.modalities.box.encoder import BoxInputEncoder
from uio.modalities.box.iou import box_iou, match_boxes
from uio.modalities.box.metrics import detection_map
from uio.modalities.box.objectives import DIRECT, OBJECTIVES
from uio.modalities.box.processor import BoxProcessor
from uio.modalities.box.tokenizer import IDS_PER_BOX, BoxTokenizer
from uio.modalities.box.value import Box, as_value, read_boxes

__all__ = [
    "DIRECT",
    "IDS_PER_BOX",
    "OBJECTIVES",
    "Box",
    "BoxConfig",
    "BoxInputEncoder",
    "BoxOutputDecoder",
    "BoxProcessor",
    "BoxTokenizer",
    "as_value",
    "box_iou",
    "detection_map",
    "match_boxes",
    "read_boxes",
]
