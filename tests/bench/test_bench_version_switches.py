"""bench/version_switches.py: a switch's numbers from per-call records (start, end, version, ok):
the time from publication to the first answer of the new version, p99 of the calls around it
against p99 of the steady state before the publication, failed calls and late old answers."""

import pytest

from bench import version_switches


def calls(first, last, every, latency_ms, version, ok=1):
    """A call started every `every` s from `first` to before `last`, each taking `latency_ms`."""
    count = round((last - first) / every)
    starts = [first + index * every for index in range(count)]
    return [(start, start + latency_ms / 1000, version if ok else 0, ok) for start in starts]


def one_switch(latency_ms=3.0, served_at=10.5):
    """Publication at 10.0; steady calls of 1 ms before it; calls of `latency_ms` from 10.0 to 11.0,
    answered by version 2 from `served_at` on; slow calls outside both windows."""
    return [
        (7.5, 7.55, 1, 1),  # 50 ms, before the steady window
        *calls(8.0, 10.0, 0.02, 1.0, 1),
        *calls(10.0, served_at, 0.02, latency_ms, 1),
        *calls(served_at, 11.0, 0.02, latency_ms, 2),
        (11.2, 11.3, 2, 1),  # 100 ms, after the switch window
    ]


def test_time_to_serving_ends_at_the_first_answer_of_the_new_version_not_its_first_start():
    records = [(9.0, 9.001, 1, 1), (10.3, 10.5, 2, 1), (10.4, 10.402, 2, 1), (10.45, 10.46, 1, 1)]

    switch = version_switches.switch_stats(records, published_at=10.0, version=2)

    assert switch["seconds_to_serving"] == pytest.approx(0.402)


def test_switch_p99_is_the_calls_around_the_first_new_answer_against_the_steady_calls_before():
    switch = version_switches.switch_stats(one_switch(latency_ms=3.0), published_at=10.0, version=2)

    assert switch["steady"]["calls"] == 100
    assert switch["steady"]["p99_ms"] == pytest.approx(1.0)  # the 50 ms call started before the window
    assert switch["switch"]["p99_ms"] == pytest.approx(3.0)  # the 100 ms call started after it
    assert switch["switch"]["max_ms"] == pytest.approx(3.0)
    assert switch["p99_ratio"] == pytest.approx(3.0)
    assert switch["seconds_to_serving"] == pytest.approx(0.503)


def test_failed_calls_are_counted_in_their_window_and_left_out_of_its_latencies():
    records = [*one_switch(), (10.6, 15.6, 0, 0)]  # a call that timed out after 5 s

    switch = version_switches.switch_stats(records, published_at=10.0, version=2)

    assert (switch["steady"]["failed"], switch["switch"]["failed"]) == (0, 1)
    assert switch["switch"]["max_ms"] == pytest.approx(3.0)
    assert version_switches.run_summary([switch], records)["failed"] == 1


def test_an_old_version_answering_a_call_started_after_the_switch_is_counted():
    before = (10.45, 10.6, 1, 1)  # started before the first new answer: the old version may answer it
    after = (10.7, 10.701, 1, 1)

    switch = version_switches.switch_stats([*one_switch(), before, after], published_at=10.0, version=2)

    assert switch["old_after_switch"] == 1


def test_a_version_never_answered_has_no_switch_numbers_and_is_not_served():
    records = calls(8.0, 12.0, 0.02, 1.0, 1)

    switch = version_switches.switch_stats(records, published_at=10.0, version=2)
    summary = version_switches.run_summary([switch], records)

    assert (switch["seconds_to_serving"], switch["switch"], switch["p99_ratio"]) == (None, None, None)
    assert switch["steady"]["p99_ms"] == pytest.approx(1.0)
    assert (summary["served"], summary["publications"]) == (0, 1)
    assert summary["seconds_to_serving"]["value"] is None


def test_the_summary_is_the_median_and_range_over_publications():
    """Versions 2, 3 and 4 published at 10, 20 and 30 s, served 0.1, 0.5 and 0.3 s later."""
    records = []
    published = ((2, 10.0, 0.1), (3, 20.0, 0.5), (4, 30.0, 0.3))
    previous_end = 0.0
    for version, at, delay in published:
        records += calls(previous_end, at + delay, 0.01, 1.0, version - 1)
        records += calls(at + delay, at + delay + 2.0, 0.01, 2.0, version)
        previous_end = at + delay + 2.0
    switches = [version_switches.switch_stats(records, at, version) for version, at, _ in published]

    summary = version_switches.run_summary(switches, records)

    serving = summary["seconds_to_serving"]
    assert (serving["value"], serving["low"], serving["high"]) == pytest.approx((0.3, 0.1, 0.5), abs=0.011)
    assert summary["served"] == summary["publications"] == 3
    assert (summary["calls"], summary["failed"]) == (len(records), 0)
    assert summary["old_after_switch"] == 0
