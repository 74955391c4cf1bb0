"""uio.modalities.jsonl — train on your own data: the ``jsonl`` dataset reads a JSON Lines manifest.

In a data-mixture config::

    sources:
      - dataset: jsonl
        options: {path: data/train.jsonl, heldout_fraction: 0.1}

Each non-blank line of the manifest is one JSON object in one of two forms.

Generic form: the line names its segments, for any task of your own::

    {"task": "add", "input": {"text": "what is two plus three?"}, "target": {"text": "five"}}
    {"task": "compare", "input": [["image", "a.png"], ["image", "b.png"], ["text", "same?"]],
     "target": {"text": "no"}}

``input`` maps modality -> value, or is a list of ``[modality, value]`` pairs
(several inputs of one modality, in order); it may be left out. ``target`` maps
exactly one modality -> value. The example runs as task ``jsonl.generic``; your
task name is kept under ``"task_name"`` and ``"group"`` (metrics are grouped by
it). A line with a ``"target"`` key is always read in the generic form.

Flat form: the fields of a task some plugin provides, which reads them itself::

    {"task": "scene.count", "scene": "a small red circle at top left.",
     "query": {"attribute": "color", "value": "red"}, "answer": "one"}

Values are strings, numbers, lists of numbers, or file paths relative to the
manifest's folder: every example gets ``"_base_dir"`` (that folder) so a
modality's processor can resolve them, and ``"id"`` (``"<file name>:<line>"``
unless the line has an ``"id"``) so errors can name the line.

Without ``heldout_path``, a stable share ``heldout_fraction`` of the lines, chosen
by hashing each line's ``id`` (or content), forms the ``heldout`` split.
"""

from uio.modalities.jsonl.config import JsonlConfig
from uio.modalities.jsonl.dataset import SPLITS, build_jsonl, in_heldout
from uio.modalities.jsonl.generic import GENERIC_TASK, build_generic, generic_parts, generic_task
from uio.modalities.jsonl.reader import Manifest, ManifestError, read_manifest

__all__ = [
    "GENERIC_TASK",
    "SPLITS",
    "JsonlConfig",
    "Manifest",
    "ManifestError",
    "build_generic",
    "build_jsonl",
    "generic_parts",
    "generic_task",
    "in_heldout",
    "read_manifest",
]
