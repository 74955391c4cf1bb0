"""The objective for box targets: [S], generate the boxes from the task's inputs.

The text denoisers do not apply: they name only text targets.
"""

from __future__ import annotations

from uio.plugins.blocks.objectives import generate_target

DIRECT = generate_target(
    "box", "[S] generate the target boxes (4 location ids each) from the task's inputs"
)
OBJECTIVES = [DIRECT]
