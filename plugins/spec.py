"""The contract between the uio core and a modality plugin.

A modality plugin returns :class:`ModalitySpec` objects from its ``uio_modalities``
hook. The core only ever calls the factories on a spec and the methods of the
protocols below; it never imports a modality's code by name.

Ids: a modality's tokenizer speaks *local* ids ``0 .. vocab_size - 1``. The core
shifts them into the modality's range of the unified vocabulary ("global" ids)
before objectives, the model and generation see them, and shifts them back before
the output decoder sees them. Objectives work on global ids because they insert
special tokens (sentinels) that belong to no modality.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Version of this contract. A plugin declares the version it was written for;
#: the registry refuses plugins that declare any other version.
API_VERSION = 1


class EmptyConfig(BaseModel):
    """Config model for a modality or dataset that takes no options."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- data


@dataclass
class Segment:
    """One modality's part of an example, as the model will see it.

    Exactly one of ``ids`` (discrete, global ids) or ``features`` (a continuous
    payload the modality's input encoder understands) is set.

    Attributes:
        modality: name of the modality that made the segment.
        ids: ``[n]`` int64 global ids, for discrete segments.
        features: continuous payload (e.g. patches), for encoder-only segments.
        positions: ``[n, 2]`` int64 (row, column) rotary positions for 2D
            segments; ``None`` means 1D, numbered by the core.
        num_tokens: tokens the segment occupies; defaults to ``len(ids)``.
        compress: ask the core's perceiver resampler to compress this segment's
            encoder output to a few latents (history frames, long context).
    """

    modality: str
    ids: torch.Tensor | None = None
    features: Any = None
    positions: torch.Tensor | None = None
    num_tokens: int = -1
    compress: bool = False

    def __post_init__(self) -> None:
        if (self.ids is None) == (self.features is None):
            raise ValueError(
                f"Segment of modality {self.modality!r} needs exactly one of ids or features"
            )
        if self.num_tokens < 0:
            if self.ids is None:
                raise ValueError(
                    f"Segment of modality {self.modality!r} with features must set num_tokens"
                )
            self.num_tokens = int(self.ids.numel())


@dataclass
class ObjectiveExample:
    """An example between the task template and the objective.

    ``inputs`` go to the encoder in order; ``target`` is what the decoder must
    produce (global ids, without start or end tokens, which the core adds).
    """

    inputs: list[Segment]
    target: Segment
    task: str = ""
    target_input: Segment | None = None
    """The target as an *input* segment (its modality's processor, ids global), set
    only for objectives with ``needs_target_input``: masked denoising feeds a
    corrupted copy of the target to the encoder."""


@dataclass(frozen=True)
class ObjectiveContext:
    """What the core tells an objective about the vocabulary."""

    sentinel_ids: Sequence[int]
    """Global ids of the sentinel tokens, in order (``<extra_id_0>`` first)."""
    modality_ranges: dict[str, tuple[int, int]]
    """``modality -> (first_id, end_id)`` (end exclusive) in the unified vocabulary."""


@dataclass
class TaskExample:
    """What a task template makes of a raw example: raw values, not yet tokenized."""

    inputs: list[tuple[str, Any]]
    """``(modality, raw value)`` pairs for the encoder, in order."""
    target: tuple[str, Any]
    """``(modality, raw value)`` the decoder must produce."""


@dataclass(frozen=True)
class ProcessContext:
    """Where a raw value came from, so processors can resolve file paths."""

    base_dir: Path | None = None
    example_id: str = ""


# --------------------------------------------------------------------------- protocols


@runtime_checkable
class Tokenizer(Protocol):
    """Raw value <-> local ids of one modality."""

    vocab_size: int

    def encode(self, value: Any) -> list[int]:
        """Local ids (``0 <= id < vocab_size``) for a raw value."""

    def decode(self, ids: Sequence[int]) -> Any:
        """The raw value for local ids (ids outside the range are dropped)."""

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain containers only: it is stored inside checkpoints."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def fingerprint(self) -> str:
        """A short stable hash of the tokenizer's state, stored in the vocabulary manifest."""


@runtime_checkable
class TrainableTokenizer(Tokenizer, Protocol):
    """A tokenizer with a fit step (``uio fit-tokenizer``)."""

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load_state_dict`) has run."""

    def fit(self, values: Sequence[Any], out_dir: Path) -> dict[str, float]:
        """Learn from raw values; write artefacts to ``out_dir``; return summary figures."""


@runtime_checkable
class Processor(Protocol):
    """Raw value -> tensors; CPU only, picklable (runs in dataloader workers)."""

    def input_segment(self, value: Any, ctx: ProcessContext) -> Segment:
        """An encoder segment for a raw value. Discrete segments carry *local* ids."""

    def target_ids(self, value: Any, ctx: ProcessContext) -> list[int]:
        """Local ids the decoder must produce for a raw value."""


@runtime_checkable
class FitValueProcessor(Processor, Protocol):
    """A processor that prepares raw values for its tokenizer's ``fit`` (optional).

    The core calls :meth:`fit_value` on each training value before fitting, with
    the context that resolves relative file paths; without it ``fit`` sees the
    raw values as the tasks made them. Evaluation prepares each reference the
    same way before the decoder scores a prediction against it (and the gallery
    draws it), so a reference given as a relative path is read.
    """

    def fit_value(self, value: Any, ctx: ProcessContext) -> Any:
        """The value as the tokenizer's ``fit`` wants it (e.g. a loaded, resized image)."""


@runtime_checkable
class OutputDecoder(Protocol):
    """Generated local ids -> raw value, and how to score it."""

    def decode(self, ids: Sequence[int]) -> Any:
        """The raw value for generated local ids."""

    def score(self, prediction: Any, reference: Any) -> dict[str, float]:
        """Metrics (higher is better, in [0, 1] where possible) of one prediction."""

    def render(self, value: Any) -> str:
        """A one-line human-readable rendering for terminals and reports."""


@runtime_checkable
class FixedLengthDecoder(OutputDecoder, Protocol):
    """An output decoder whose values always take the same number of ids (a code grid).

    Generation then produces exactly ``output_length`` ids for this modality,
    never ending early, and stops there.
    """

    output_length: int


@runtime_checkable
class FileDecoder(OutputDecoder, Protocol):
    """An output decoder that can write a value to a file (PNG, WAV) and draw it (optional).

    ``uio generate --out`` and the gallery use these; a decoder without them is
    shown through :meth:`OutputDecoder.render`.
    """

    file_suffix: str
    """The suffix of the files :meth:`write` makes, e.g. ``".png"``."""

    def write(self, value: Any, path: Path) -> Path:
        """Write ``value`` to ``path`` (with :attr:`file_suffix`); return the path written."""

    def picture(self, value: Any) -> Any:
        """A ``PIL.Image.Image`` showing the value (the image itself, a spectrogram), or ``None``."""

    # Optional: ``html_media = "audio"`` (or ``"video"``) asks the gallery to write each
    # value with :meth:`write` and play it in that HTML element, above its picture.


@dataclass(frozen=True)
class EncoderContext:
    """What the core hands an input-encoder factory."""

    d_model: int
    embed_ids: Callable[[torch.Tensor], torch.Tensor]
    """Looks global ids up in the core's shared token embedding (tied with the output)."""


class InputEncoder(Protocol):
    """``nn.Module``: a list of segment payloads -> embeddings ``[sum of num_tokens, d_model]``.

    Called once per modality per batch with every segment of that modality in
    the batch; returns their embeddings concatenated in the same order. For
    discrete segments the payload is the ``[n]`` global id tensor; for
    continuous ones it is ``Segment.features``.
    """

    def __call__(self, payloads: list[Any]) -> torch.Tensor: ...


# --------------------------------------------------------------------------- specs


ObjectiveFn = Callable[[ObjectiveExample, random.Random, ObjectiveContext], ObjectiveExample]


class ObjectiveSpec(BaseModel):
    """A denoising objective (UIO2's mixture of denoisers, arXiv 2312.17172 sec. 5.1).

    ``apply`` receives an example whose target is of one of ``target_modalities``
    and returns the corrupted example. The core prepends the objective's prefix
    token to the encoder input.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    prefix: str = Field(description="Short tag shown in the prefix token, e.g. 'R', 'S', 'X'.")
    target_modalities: list[str]
    apply: ObjectiveFn
    description: str = ""
    needs_target_input: bool = Field(
        False,
        description="The core sets ObjectiveExample.target_input (the target processed as an input).",
    )


class TaskSpec(BaseModel):
    """A prompt template: a raw example -> input and target values.

    ``build`` picks one of several phrasings with the given random generator, as
    UIO2's prompt dictionary does. ``objectives`` restricts which objectives may
    be sampled for the task (``None``: any whose target modality fits).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    build: Callable[[dict[str, Any], random.Random], TaskExample]
    target_modality: str | None = Field(None, description="None: decided per example.")
    objectives: list[str] | None = None
    description: str = ""
    score: Callable[[dict[str, Any], Any, Any], dict[str, float]] | None = Field(
        None,
        description=(
            "Extra metrics of the task, score(raw example, prediction, reference) -> {name: value}, "
            "added to those of the target modality's output decoder (e.g. a classifier's verdict "
            "on a generated image). The reference is as the target's processor prepares it "
            "(fit_value) when it has one; eval's chance level passes another example's reference "
            "as the prediction, so accept that form too."
        ),
    )
    corpus_score: Callable[[list[dict[str, Any]], list[Any], list[Any]], dict[str, float]] | None = Field(
        None,
        description=(
            "Metrics over all evaluated examples of the task at once, corpus_score(raw examples, "
            "predictions, references) -> {name: value}, for metrics that are not means of per-example "
            "scores (e.g. detection mAP)."
        ),
    )
    illustrate: Callable[[dict[str, Any], Any, Any], Any] | None = Field(
        None,
        description=(
            "illustrate(raw example, prediction, reference) -> a PIL image for the gallery (e.g. "
            "predicted boxes drawn over the input image beside the true ones), or None."
        ),
    )


class DatasetSpec(BaseModel):
    """A dataset builder, referred to by name from a data-mixture config.

    ``build(options, split, seed)`` returns raw examples: dicts with a ``"task"``
    key naming a :class:`TaskSpec` and the fields that task reads. ``options`` is
    an instance of ``config_model`` validated from the mixture entry. ``build``
    must be deterministic in ``(options, split, seed)`` and picklable.

    Reserved keys of a raw example: ``task``; ``id`` (named in errors);
    ``group`` (metrics are grouped by it instead of the task name); keys starting
    with ``_`` are metadata, e.g. ``_base_dir`` (the folder relative file paths
    are resolved against, given to processors as ``ProcessContext.base_dir``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    build: Callable[[Any, str, int], Sequence[dict[str, Any]]]
    config_model: type[BaseModel] = EmptyConfig
    splits: list[str] = Field(default_factory=lambda: ["train", "heldout"])
    description: str = ""


class ModalitySpec(BaseModel):
    """Everything the core needs to know about one modality.

    Factories take the validated instance of ``config_model`` (the modality's
    section of the run config). ``vocab_size`` may depend on that config, hence
    :meth:`vocab_size_for`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    api_version: int
    config_model: type[BaseModel] = EmptyConfig
    vocab_size: int | Callable[[Any], int] = Field(
        description="Discrete output ids (0 for input-only), or a function of the config."
    )
    build_tokenizer: Callable[[Any], Tokenizer]
    build_processor: Callable[[Any, Tokenizer], Processor]
    build_input_encoder: Callable[[Any, EncoderContext], torch.nn.Module]
    build_output_decoder: Callable[[Any, Tokenizer], OutputDecoder]
    objectives: list[ObjectiveSpec] = Field(default_factory=list)
    position_dims: int = Field(1, ge=1, le=2, description="1 for sequences, 2 for grids.")
    guidance: bool = Field(
        False,
        description=(
            "Ask for classifier-free guidance: a share of the examples with this target "
            "(objectives.empty_prompt_rate) trains with an empty prompt, and generation mixes "
            "(1 + a) * logp(x | prompt) - a * logp(x | empty) with a = generate.guidance_scale."
        ),
    )
    description: str = ""
    # Set by the registry: which distribution and entry point provided the spec.
    source: str = ""

    @field_validator("api_version")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("api_version must be a positive integer")
        return v

    def vocab_size_for(self, config: Any) -> int:
        """The number of output ids for a given modality config."""
        size = self.vocab_size(config) if callable(self.vocab_size) else self.vocab_size
        return int(size)


@dataclass
class PluginInfo:
    """What the registry knows about one loaded (or broken) plugin."""

    name: str
    distribution: str = ""
    version: str = ""
    entry_point: str = ""
    modalities: list[str] = field(default_factory=list)
    objectives: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    status: str = "ok"
    error: str = ""
