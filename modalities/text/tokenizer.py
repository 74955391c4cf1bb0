"""Sentencepiece tokenizer of the text modality, trained in memory by ``uio fit-tokenizer``."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch

from uio.modalities.text.config import TextConfig

NOT_FITTED = (
    "text tokenizer is not fitted; run `uio fit-tokenizer CONFIG` "
    "(or `uio train`, which fits missing tokenizers)"
)
MODEL_FILENAME = "text.model"
UNK_ID = 0

# The trainer silently drops sentences longer than `max_sentence_length` bytes;
# chunking keeps long documents in the corpus (pieces never cross whitespace anyway).
_MAX_SENTENCE_BYTES = 16384
_CHUNK_CHARS = 4000  # at most 4 UTF-8 bytes a character: stays under the limit


def as_text(value: Any) -> str:
    """A raw text value as a string: numbers are spelled with ``str``, anything else is an error."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string (or a number), got {type(value).__name__}")


def _training_sentences(texts: Sequence[str]) -> Iterator[str]:
    for text in texts:
        for line in text.splitlines():
            while len(line) > _CHUNK_CHARS:
                cut = line.rfind(" ", 0, _CHUNK_CHARS)
                cut = cut if cut > 0 else _CHUNK_CHARS
                yield line[:cut]
                line = line[cut:]
            if line.strip():
                yield line


class SentencePieceTokenizer:
    """Text <-> local ids with a sentencepiece model (unigram or BPE).

    Local id 0 is ``<unk>``; there are no bos/eos/pad pieces (the core owns
    those tokens). The trained model lives only as its serialized proto, which
    is what :meth:`state_dict`, pickling and :meth:`fingerprint` use.
    """

    def __init__(self, config: TextConfig) -> None:
        self.config = config
        self.vocab_size: int = config.vocab_size
        self._proto: bytes | None = None
        self._sp: spm.SentencePieceProcessor | None = None

    # ------------------------------------------------------------------ state

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` or :meth:`load_state_dict` has run."""
        return self._sp is not None

    @property
    def num_pieces(self) -> int:
        """Pieces of the trained model (at most :attr:`vocab_size`)."""
        return self._processor().get_piece_size()

    def _processor(self) -> spm.SentencePieceProcessor:
        if self._sp is None:
            raise RuntimeError(NOT_FITTED)
        return self._sp

    def _load_proto(self, proto: bytes) -> None:
        sp = spm.SentencePieceProcessor(model_proto=proto)
        if sp.get_piece_size() > self.vocab_size:
            raise ValueError(
                f"text tokenizer has {sp.get_piece_size()} pieces but text.vocab_size is "
                f"{self.vocab_size}; fix: set text.vocab_size >= {sp.get_piece_size()} "
                f"(the value the tokenizer was trained with) or refit the tokenizer"
            )
        self._proto = proto
        self._sp = sp

    def state_dict(self) -> dict[str, Any]:
        """``{"model_proto": uint8 tensor}``: loads under ``torch.load(weights_only=True)``."""
        self._processor()
        assert self._proto is not None
        return {"model_proto": torch.frombuffer(bytearray(self._proto), dtype=torch.uint8)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a model saved by :meth:`state_dict`."""
        if "model_proto" not in state:
            raise KeyError(
                f"text tokenizer state needs key 'model_proto'; got keys {sorted(state)}"
            )
        proto = state["model_proto"]
        if isinstance(proto, torch.Tensor):
            proto = proto.detach().cpu().to(torch.uint8).numpy().tobytes()
        self._load_proto(bytes(proto))

    def fingerprint(self) -> str:
        """First 16 hex digits of the sha256 of the serialized model."""
        self._processor()
        assert self._proto is not None
        return hashlib.sha256(self._proto).hexdigest()[:16]

    def __getstate__(self) -> dict[str, Any]:
        # SentencePieceProcessor is a SWIG object and does not pickle; the proto does.
        return {"config": self.config, "proto": self._proto}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])  # type: ignore[misc]
        if state["proto"] is not None:
            self._load_proto(state["proto"])

    # ------------------------------------------------------------------ fit

    def fit(self, values: Sequence[Any], out_dir: Path) -> dict[str, float]:
        """Train on raw texts, write ``out_dir/text.model`` and return summary figures.

        Figures: ``pieces`` (size of the trained model), ``mean_pieces_per_text``
        and ``unk_rate`` (fraction of ``<unk>`` among the corpus's pieces).
        """
        texts = []
        for i, value in enumerate(values):
            try:
                texts.append(as_text(value))
            except TypeError as exc:
                raise TypeError(f"text tokenizer fit: value #{i}: {exc}") from None
        sentences = list(_training_sentences(texts))
        if not sentences:
            raise ValueError(
                f"text tokenizer fit: no non-empty text among {len(texts)} value(s); "
                "fix: check that the data mixture yields text"
            )
        writer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=writer,
                vocab_size=self.vocab_size,
                model_type=self.config.model_type,
                # A soft limit: a small corpus yields fewer pieces instead of an error.
                hard_vocab_limit=False,
                unk_id=UNK_ID,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                character_coverage=1.0,
                normalization_rule_name="nmt_nfkc_cf" if self.config.lowercase else "nmt_nfkc",
                max_sentence_length=_MAX_SENTENCE_BYTES,
                minloglevel=2,
            )
        except RuntimeError as exc:
            raise ValueError(_explain_training_error(str(exc), self.vocab_size)) from exc
        self._load_proto(writer.getvalue())
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / MODEL_FILENAME).write_bytes(writer.getvalue())

        total = unk = 0
        for text in texts:
            ids = self.encode(text)
            total += len(ids)
            unk += sum(1 for i in ids if i == UNK_ID)
        return {
            "pieces": float(self.num_pieces),
            "mean_pieces_per_text": total / len(texts),
            "unk_rate": unk / total if total else 0.0,
        }

    # ------------------------------------------------------------------ use

    def encode(self, value: Any) -> list[int]:
        """Local ids (``0 <= id < vocab_size``) of a text."""
        return self._processor().encode(as_text(value), out_type=int)

    def decode(self, ids: Sequence[int]) -> str:
        """The text of local ids; ids outside the trained model are dropped."""
        sp = self._processor()
        size = sp.get_piece_size()
        return sp.decode([int(i) for i in ids if 0 <= int(i) < size])


def _explain_training_error(message: str, vocab_size: int) -> str:
    found = re.search(r"required_chars\. (\d+) vs (\d+)", message)
    if found:
        need = int(found.group(2))
        return (
            f"text tokenizer fit: text.vocab_size={vocab_size} is too small for the {need} "
            f"distinct characters (and special pieces) of the corpus; fix: set "
            f"text.vocab_size >= {need}"
        )
    return f"text tokenizer fit: sentencepiece training failed: {message}"
