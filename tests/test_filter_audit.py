"""Filter stats: exact merges across units, uniform merged samples, JSON that survives resume."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from flamboyance.filter.audit import FilterReport, Histogram, Reservoir, StepStats, sample_key
from flamboyance.filter.text import WordCount
from flamboyance.shards.stats import Stats

PARAGRAPHS = [("word " * n).strip() for n in range(40)]


def run_unit(paragraphs: list[str], seed: int = 0) -> WordCount:
    step = WordCount(min_words=4, max_words=30, seed=seed)
    for index, text in enumerate(paragraphs):
        step(text, label=f"doc-{index}")
    return step


def test_a_step_counts_inputs_keeps_and_drops_by_reason_with_histogram_and_sample() -> None:
    stats = run_unit(PARAGRAPHS).stats
    assert (stats.inputs, stats.kept) == (40, 27)
    assert stats.dropped == {"words_below": 4, "words_above": 9}
    assert stats.histograms["words"].total() == 40
    sample = stats.sample.records()
    assert len(sample) == 13
    assert {record["reason"] for record in sample} == {"words_below", "words_above"}
    assert all(record["item"]["label"].startswith("doc-") for record in sample)
    short = next(record for record in sample if record["reason"] == "words_below")
    assert short["score"] < 4


def test_merging_units_gives_the_counts_and_histograms_of_one_pass() -> None:
    whole = run_unit(PARAGRAPHS).stats
    merged = run_unit(PARAGRAPHS[:15], seed=1).stats.merge(run_unit(PARAGRAPHS[15:], seed=2).stats)
    assert (merged.inputs, merged.kept, merged.dropped) == (whole.inputs, whole.kept, whole.dropped)
    assert merged.histograms["words"] == whole.histograms["words"]


def test_merged_sample_is_the_bottom_k_of_all_drops() -> None:
    units = []
    for unit in range(3):
        small, full = Reservoir(size=5), Reservoir(size=10_000)
        for i in range(50):
            key = sample_key(unit, "step", i)
            small.offer(key, {"unit": unit, "i": i})
            full.offer(key, {"unit": unit, "i": i})
        units.append((small, full))
    merged = Reservoir(size=5)
    for small, _ in units:
        merged.merge(small)
    everything = Reservoir(size=10_000)
    for _, full in units:
        everything.merge(full)
    assert merged.records() == everything.records()[:5]


def test_merged_sample_stays_uniform_across_units_of_different_sizes() -> None:
    # Unit A drops 20 items, unit B 80: a uniform sample holds about 20 % from A.
    from_a = 0
    trials = 300
    for seed in range(trials):
        a, b = StepStats("s", seed=seed), StepStats("s", seed=seed + 10_000)
        for i in range(20):
            a.record(False, "r", 0.0, f"a{i}")
        for i in range(80):
            b.record(False, "r", 0.0, f"b{i}")
        sample = a.merge(b).sample.records()
        assert len(sample) == 32  # the default sample size
        from_a += sum(record["item"].startswith("a") for record in sample)
    share = from_a / (trials * len(sample))
    assert 0.17 < share < 0.23


def test_report_json_round_trip_merge_and_resume() -> None:
    unit_1 = FilterReport([run_unit(PARAGRAPHS[:20], seed=1).stats])
    unit_2 = FilterReport([run_unit(PARAGRAPHS[20:], seed=2).stats])
    stored = [json.dumps(unit.to_json()) for unit in (unit_1, unit_2)]
    # A resumed unit re-runs from scratch and writes the same file again.
    rerun = FilterReport([run_unit(PARAGRAPHS[20:], seed=2).stats])
    assert json.dumps(rerun.to_json()) == stored[1]
    total = FilterReport.total(FilterReport.from_json(json.loads(text)) for text in stored)
    reversed_total = FilterReport.total(FilterReport.from_json(json.loads(text)) for text in reversed(stored))
    assert total.to_json() == reversed_total.to_json()
    assert total.counters().to_json() == Stats({"filter/word_count/in": 40, "filter/word_count/kept": 27,
                                      "filter/word_count/dropped/words_above": 9,
                                      "filter/word_count/dropped/words_below": 4}).to_json()


def test_histograms_with_different_bins_refuse_to_merge() -> None:
    histogram = Histogram((0, 1, 2))
    histogram.add(0.5)
    histogram.add(2)
    histogram.add(-1)
    histogram.add(5)
    assert (histogram.counts, histogram.underflow, histogram.overflow) == ([1, 1], 1, 1)
    with pytest.raises(ValueError):
        histogram.merge(Histogram((0, 1, 3)))
    with pytest.raises(ValueError):
        StepStats("a").merge(StepStats("b"))
    assert Counter(Histogram.from_json(histogram.to_json()).counts) == Counter(histogram.counts)
