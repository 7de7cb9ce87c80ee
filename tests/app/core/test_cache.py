"""The app's result cache is bounded by memory (issue 17): least recently used out."""

from dataclasses import dataclass, field

import numpy as np

from app.core.cache import DEFAULT_MAX_BYTES, ResultCache, max_bytes_from_env, result_bytes


@dataclass
class FakeResult:
    image: np.ndarray
    y: np.ndarray
    maps: dict = field(default_factory=dict)


def result(mb: int) -> FakeResult:
    return FakeResult(np.zeros(mb << 20, np.uint8), np.zeros(0, np.float32))


def test_result_bytes_counts_image_luminance_and_maps():
    r = FakeResult(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.float32),
                   {"wa": np.zeros((10, 10), np.float32)})
    assert result_bytes(r) == 300 + 400 + 400


def test_the_least_recently_used_results_go_first_and_the_bound_holds():
    cache = ResultCache(max_bytes=10 << 20)
    for k in "abc":
        cache.put(k, result(4))  # 12 MB > 10 MB: "a" goes
    assert "a" not in cache and len(cache) == 2 and cache.nbytes == 8 << 20
    assert cache.get("b") is not None  # b is now the most recent
    cache.put("d", result(4))
    assert "c" not in cache and "b" in cache and "d" in cache and cache.nbytes <= cache.max_bytes


def test_a_result_larger_than_the_bound_is_not_kept_and_evicts_nothing():
    cache = ResultCache(max_bytes=5 << 20)
    cache.put("a", result(2))
    cache.put("huge", result(6))
    assert "huge" not in cache and "a" in cache


def test_drop_and_replace_keep_the_count_right():
    cache = ResultCache(max_bytes=100 << 20)
    cache.put(("p", "m1"), result(1))
    cache.put(("p", "m2"), result(2))
    cache.put(("p", "m2"), result(3))
    assert cache.nbytes == 4 << 20
    cache.drop(lambda k: k[1] == "m1")
    assert len(cache) == 1 and cache.nbytes == 3 << 20


def test_the_bound_comes_from_the_environment_and_bad_values_are_ignored(monkeypatch):
    monkeypatch.setenv("REFUSION_CACHE_MB", "64")
    assert max_bytes_from_env() == 64 << 20
    monkeypatch.setenv("REFUSION_CACHE_MB", "lots")
    assert max_bytes_from_env() == DEFAULT_MAX_BYTES
