"""A subset of a split (eval's max_examples, the tokenizer fit's examples) draws on every
data source in proportion to its size, so no source is left out."""

from __future__ import annotations

import pytest

from uio.core.assembly import proportional_shares


@pytest.mark.parametrize(
    "sizes,total,expected",
    [
        ([700, 300, 600], 1000, [438, 187, 375]),  # the default's held-out split
        ([1000, 1, 1], 10, [8, 1, 1]),  # a small source still gets one
        ([10, 0, 5], 3, [2, 0, 1]),
        ([1, 1, 1], 2, [1, 1, 0]),  # too few for one each
        ([3, 3, 3], 7, [3, 2, 2]),
        ([700, 300, 600], 2000, [700, 300, 600]),  # more than there is: everything
    ],
)
def test_shares_are_proportional_and_sum_to_the_total(sizes, total, expected) -> None:
    shares = proportional_shares(sizes, total)
    assert shares == expected
    assert sum(shares) == min(total, sum(sizes))
    assert all(0 <= s <= n for s, n in zip(shares, sizes, strict=True))


def test_a_limited_split_holds_every_source(tmp_path) -> None:
    from uio.core.assembly import assemble
    from uio.core.config import load_config

    config = tmp_path / "two.yaml"
    config.write_text(
        "name: two\nmodalities: {text: {vocab_size: 64}}\n"
        "data:\n  sources:\n"
        "    - {dataset: scene_qa, options: {train_examples: 900, heldout_examples: 90}}\n"
        "    - {dataset: scene_qa, options: {train_examples: 100, heldout_examples: 10, kinds: [scene.count]}}\n"
        f"train: {{out_dir: {tmp_path / 'run'}}}\n"
    )
    run = assemble(load_config(str(config), []))
    subset = run.dataset("train", 50)
    assert len(subset) == 50
    first = {id(raw) for raw in run.sources("train")[0][0]}
    assert [id(raw) in first for raw in subset] == [True] * 45 + [False] * 5  # 90% and 10%
    assert run.dataset("heldout", 10_000) == run.dataset("heldout")
