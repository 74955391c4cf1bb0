"""Scoring sound-world predictions: generated clips with the sound classifier, captions by attribute."""

from __future__ import annotations

from typing import Any

from PIL import Image

from uio.modalities.sounds.classifier import classify
from uio.modalities.sounds.fields import audio_value, clip_shape, sound_of, waveform_of, where
from uio.modalities.sounds.picture import spectrogram_strip
from uio.modalities.sounds.world import read_attributes


def _agreement(truth: dict[str, str], heard: dict[str, str]) -> float:
    """Share of ``truth``'s attributes that ``heard`` names the same."""
    return sum(heard.get(a) == v for a, v in truth.items()) / len(truth)


def score_text_to_audio(raw: dict[str, Any], prediction: Any, reference: Any) -> dict[str, float]:
    """``attribute_accuracy`` and ``sound_match`` of a generated clip of the example's sound.

    The sound classifier reads the clip; ``attribute_accuracy`` is the share of
    the caption's attributes (4 for noise bursts, else 5) it hears right and
    ``sound_match`` is 1.0 when it hears all of them (and no timbre in a noise
    burst). ``prediction`` is an audio value ``{"waveform", "sample_rate"}`` (the
    decoder's, or another example's reference, as eval's chance level passes it)
    or a bare waveform at the example's sample rate. ``reference`` is unused: the
    truth is the ``sound`` attributes.
    """
    truth = sound_of(raw).attributes()
    rate, _ = clip_shape(raw)
    try:
        wave, wave_rate = waveform_of(prediction, rate)
    except TypeError as exc:
        raise TypeError(f"{where(raw)}: {exc}") from exc
    heard = classify([{"waveform": wave, "sample_rate": wave_rate}])[0]
    return {"attribute_accuracy": _agreement(truth, heard), "sound_match": float(heard == truth)}


def score_caption(raw: dict[str, Any], prediction: Any, reference: Any) -> dict[str, float]:
    """``attribute_accuracy``: the share of the sound's attributes a predicted caption names
    right (partial credit beside the decoder's exact match; see :func:`.world.read_attributes`)."""
    return {"attribute_accuracy": _agreement(sound_of(raw).attributes(), read_attributes(str(prediction)))}


def illustrate_text_to_audio(raw: dict[str, Any], prediction: Any, reference: Any) -> Image.Image | None:
    """Spectrograms of the generated clip | the nominal clip of the caption; ``None`` if the
    prediction is no audio."""
    rate, _ = clip_shape(raw)
    try:
        wave = waveform_of(prediction, rate)
    except TypeError:
        return None
    truth = audio_value(raw, jitter=False)
    return spectrogram_strip([wave, (truth["waveform"], truth["sample_rate"])])
