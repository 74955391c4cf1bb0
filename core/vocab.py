"""The unified vocabulary: special tokens, then one contiguous id range per modality.

Layout (deterministic from the config): id 0 is padding, 1 end of sequence,
2 beginning of sequence; then one start token per modality (config order); one
prefix token per objective (sorted by name); the sentinels; then each
modality's range, in config order; then padding up to ``model.vocab_size`` or
the next multiple of 64. The manifest written beside every checkpoint records
each range with its plugin version and tokenizer fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PAD_ID = 0
EOS_ID = 1
BOS_ID = 2
MANIFEST_VERSION = 1


class VocabularyError(ValueError):
    """The configured vocabulary does not fit, or disagrees with a checkpoint's."""


@dataclass(frozen=True)
class ModalityRange:
    """One modality's ids: ``start <= id < end``."""

    name: str
    start: int
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


class Vocabulary:
    """Maps modalities, objectives and sentinels to ids of one vocabulary."""

    def __init__(
        self,
        modality_sizes: Sequence[tuple[str, int]],
        objective_names: Sequence[str],
        num_sentinels: int,
        padded_size: int | None = None,
    ) -> None:
        next_id = BOS_ID + 1
        self.start_ids: dict[str, int] = {}
        for name, _ in modality_sizes:
            self.start_ids[name] = next_id
            next_id += 1
        self.prefix_ids: dict[str, int] = {}
        for name in sorted(objective_names):
            self.prefix_ids[name] = next_id
            next_id += 1
        self.sentinel_ids = list(range(next_id, next_id + num_sentinels))
        next_id += num_sentinels
        self.num_special = next_id
        self.ranges: dict[str, ModalityRange] = {}
        for name, size in modality_sizes:
            self.ranges[name] = ModalityRange(name, next_id, int(size))
            next_id += int(size)
        self.used_size = next_id
        if padded_size is None:
            self.size = -(-next_id // 64) * 64
        elif padded_size < next_id:
            shares = ", ".join(f"{r.name} {r.size}" for r in self.ranges.values())
            raise VocabularyError(
                f"the unified vocabulary needs {next_id} ids ({self.num_special} special; "
                f"{shares}) but model.vocab_size is {padded_size}"
            )
        else:
            self.size = padded_size

    @property
    def modalities(self) -> list[str]:
        return list(self.ranges)

    def range(self, modality: str) -> ModalityRange:
        """The id range of a modality."""
        try:
            return self.ranges[modality]
        except KeyError:
            raise VocabularyError(
                f"modality {modality!r} has no id range; configured: {', '.join(self.ranges)}"
            ) from None

    def to_global(self, modality: str, local_ids: Sequence[int]) -> list[int]:
        """Shift a modality's local ids into the unified vocabulary, checking bounds."""
        r = self.range(modality)
        out = []
        for i in local_ids:
            if not 0 <= i < r.size:
                raise VocabularyError(
                    f"modality {modality!r} produced id {i}, outside its range of {r.size} ids"
                )
            out.append(r.start + int(i))
        return out

    def to_local(self, modality: str, global_ids: Sequence[int]) -> list[int]:
        """Ids of a modality's range back to local ids; other ids are dropped."""
        r = self.range(modality)
        return [int(i) - r.start for i in global_ids if r.start <= int(i) < r.end]

    def manifest(self, details: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Plain-container description, stored with checkpoints.

        ``details`` adds per-modality facts (plugin version, tokenizer fingerprint).
        """
        details = details or {}
        return {
            "manifest_version": MANIFEST_VERSION,
            "size": self.size,
            "special": {"pad": PAD_ID, "eos": EOS_ID, "bos": BOS_ID},
            "objectives": dict(self.prefix_ids),
            "num_sentinels": len(self.sentinel_ids),
            "modalities": [
                {"name": r.name, "start": r.start, "size": r.size, **details.get(r.name, {})}
                for r in self.ranges.values()
            ],
        }


def compare_manifests(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every difference between a checkpoint's manifest and the current one, in words."""
    problems = []
    saved_mods = {m["name"]: m for m in saved.get("modalities", [])}
    current_mods = {m["name"]: m for m in current.get("modalities", [])}
    for name in saved_mods.keys() - current_mods.keys():
        problems.append(f"modality {name!r} is in the checkpoint but not installed/configured now")
    for name in current_mods.keys() - saved_mods.keys():
        problems.append(f"modality {name!r} is configured now but not in the checkpoint")
    for name in saved_mods.keys() & current_mods.keys():
        s, c = saved_mods[name], current_mods[name]
        for key in sorted(set(s) | set(c)):
            if key == "name" or s.get(key) == c.get(key):
                continue
            problems.append(
                f"modality {name!r}: {key} is {s.get(key)!r} in the checkpoint but {c.get(key)!r} now"
            )
    for key in ("size", "objectives", "num_sentinels", "special"):
        if saved.get(key) != current.get(key):
            problems.append(f"{key} is {saved.get(key)!r} in the checkpoint but {current.get(key)!r} now")
    return problems
