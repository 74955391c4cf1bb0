"""The unified vocabulary layout and manifest comparison."""

from __future__ import annotations

import pytest

from uio.core.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary, VocabularyError, compare_manifests


def test_layout_is_contiguous_and_deterministic():
    v = Vocabulary([("a", 100), ("b", 7)], ["z.obj", "a.obj"], num_sentinels=3)
    assert (PAD_ID, EOS_ID, BOS_ID) == (0, 1, 2)
    assert v.start_ids == {"a": 3, "b": 4}
    assert v.prefix_ids == {"a.obj": 5, "z.obj": 6}  # sorted by name
    assert v.sentinel_ids == [7, 8, 9]
    assert (v.range("a").start, v.range("a").end) == (10, 110)
    assert (v.range("b").start, v.range("b").end) == (110, 117)
    assert v.size == 128  # rounded up to a multiple of 64
    assert v.to_local("b", v.to_global("b", [0, 6])) == [0, 6]
    with pytest.raises(VocabularyError, match="outside its range"):
        v.to_global("b", [7])


def test_overflow_names_each_share():
    with pytest.raises(VocabularyError, match=r"needs 117 ids .*a 100, b 7.* is 100"):
        Vocabulary([("a", 100), ("b", 7)], ["z.obj", "a.obj"], num_sentinels=3, padded_size=100)


def test_manifest_mismatch_is_named():
    v1 = Vocabulary([("a", 100)], [], 2).manifest({"a": {"plugin_version": "1.0", "tokenizer": "x"}})
    v2 = Vocabulary([("a", 100)], [], 2).manifest({"a": {"plugin_version": "2.0", "tokenizer": "x"}})
    v3 = Vocabulary([("a", 100), ("c", 5)], [], 2).manifest({})
    assert compare_manifests(v1, v1) == []
    assert compare_manifests(v1, v2) == ["modality 'a': plugin_version is '1.0' in the checkpoint but '2.0' now"]
    problems = compare_manifests(v1, v3)
    assert any("'c' is configured now but not in the checkpoint" in p for p in problems)
