"""Random noise spans for span corruption, shared by the R and X denoisers."""

from __future__ import annotations

import random


def _partition(total: int, parts: int, rng: random.Random) -> list[int]:
    """``parts`` positive integers summing to ``total`` (uniform over compositions)."""
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


def random_spans(
    length: int,
    noise_density: float,
    mean_span_length: float,
    max_spans: int,
    rng: random.Random,
) -> list[tuple[int, int]]:
    """Non-overlapping ``(start, end)`` noise spans over ``length`` tokens, in order.

    As T5's ``random_spans_noise_mask`` (arXiv 1910.10683): round(length *
    noise_density) noise tokens split into round(noise / mean_span_length) spans,
    noise and non-noise lengths each drawn as a random composition. Unlike T5,
    there is always at least one noise token (a 1-token text is corrupted whole),
    never more spans than ``max_spans`` (the sentinels available), and a span
    may start at position 0.
    """
    if length <= 0:
        return []
    if max_spans < 1:
        raise ValueError("span corruption needs at least one sentinel token")
    num_noise = 1 if length == 1 else min(max(round(length * noise_density), 1), length - 1)
    num_clean = length - num_noise
    num_spans = max(round(num_noise / mean_span_length), 1)
    # Spans are separated by at least one clean token; the ends may be clean-free.
    num_spans = min(num_spans, num_noise, num_clean + 1, max_spans)
    noise_lengths = _partition(num_noise, num_spans, rng)
    gaps = _partition(num_clean + 2, num_spans + 1, rng)
    gaps[0] -= 1
    gaps[-1] -= 1
    spans = []
    pos = 0
    for gap, size in zip(gaps, noise_lengths, strict=False):
        pos += gap
        spans.append((pos, pos + size))
        pos += size
    return spans
