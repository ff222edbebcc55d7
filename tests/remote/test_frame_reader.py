"""The frame reader on a real run's log that went wrong on the way: corrupt, truncated, duplicated, reordered lines,
and more than its bounds allow. Never a wrong value."""

from __future__ import annotations

import random

import pytest

from airflow_provider_saturn.remote import FrameReader, SaturnFrameError, SaturnRemoteError
from airflow_provider_saturn.remote.bootstrap import (
    CHUNK_CHARS,
    ERROR_KIND,
    ERROR_PAYLOAD_BOUND,
    RESULT_KIND,
    error_payload,
    frame_lines,
)
from airflow_provider_saturn.remote.frames import MAX_ATTEMPTS, held_bound
from tests.remote.pods import PodRun, frame_lines_of, reader_of, ship

SIZE = 10_000  # four frame lines
# Fields of a frame line split on spaces: SATURN-FRAME v1 marker attempt kind seq count size sha256 chunk
COUNT, TOTAL, SHA256 = 6, 7, 8


def make_text(size):
    return "x" * size


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> PodRun:
    done = ship(tmp_path_factory.mktemp("pod"), make_text, SIZE)
    assert len(frame_lines_of(done)) == 4
    return done


def expect_no_value(lines: list[str], marker: str, reason: str) -> SaturnFrameError:
    with pytest.raises(SaturnFrameError) as caught:
        reader_of(lines, marker).result()
    assert caught.value.reason == reason, caught.value
    return caught.value


def replace_line(lines: list[str], old: str, new: str) -> list[str]:
    return [new if line == old else line for line in lines]


def altered_chunk(line: str, at: int = -10) -> str:
    """The line with one base64 character of its chunk changed for another base64 character."""
    char = line[at]
    return line[:at] + ("A" if char != "A" else "B") + line[at + 1 :]


def fields(line: str) -> list[str]:
    return line.split(" ")


def test_the_untouched_log_gives_the_value(run):
    assert reader_of(run.lines, run.marker).result() == "x" * SIZE


def test_a_changed_base64_character_fails_the_hash(run):
    second = frame_lines_of(run)[1]
    error = expect_no_value(replace_line(run.lines, second, altered_chunk(second)), run.marker, "corrupt")
    assert "SHA-256" in str(error)


def test_a_character_outside_base64_makes_the_line_malformed(run):
    second = frame_lines_of(run)[1]
    broken = second[:-10] + "*" + second[-9:]
    error = expect_no_value(replace_line(run.lines, second, broken), run.marker, "incomplete")
    assert "lacks 1 line(s): 2" in str(error) and "1 frame line(s) were malformed" in str(error)


def test_a_wrong_total_on_one_line_is_a_conflict(run):
    second = frame_lines_of(run)[1]
    parts = fields(second)
    parts[TOTAL] = str(int(parts[TOTAL]) + 1)
    expect_no_value(replace_line(run.lines, second, " ".join(parts)), run.marker, "conflict")


def test_a_wrong_total_on_every_line_fails_the_hash(run):
    lines = []
    for line in run.lines:
        parts = fields(line)
        if line in frame_lines_of(run):
            parts[TOTAL] = str(int(parts[TOTAL]) - 1)  # still four lines, the last one as long
        lines.append(" ".join(parts))
    expect_no_value(lines, run.marker, "corrupt")


def test_a_wrong_count_is_malformed(run):
    lines = []
    for line in frame_lines_of(run):
        parts = fields(line)
        parts[COUNT] = "5"
        lines.append(" ".join(parts))
    expect_no_value(lines, run.marker, "corrupt")


def test_a_wrong_hash_on_every_line_fails(run):
    lines = [line.replace(fields(line)[SHA256], "0" * 64) for line in frame_lines_of(run)]
    expect_no_value(lines, run.marker, "corrupt")


def test_a_missing_last_line_is_incomplete(run):
    error = expect_no_value(run.lines[:-1], run.marker, "incomplete")
    assert "lacks 1 line(s): 4" in str(error)


def test_a_last_line_cut_in_half_is_incomplete(run):
    lines = [*run.lines[:-1], run.lines[-1][: len(run.lines[-1]) // 2]]
    expect_no_value(lines, run.marker, "incomplete")


def test_a_log_cut_before_the_frame_has_no_value(run):
    expect_no_value([line for line in run.lines if line not in frame_lines_of(run)], run.marker, "missing")


def test_identical_duplicates_are_taken_once(run):
    reader = reader_of(run.lines + run.lines + run.lines[1:3], run.marker)
    assert reader.result() == "x" * SIZE
    assert reader.lines_taken == 4


def test_a_duplicate_that_differs_is_a_conflict(run):
    second = frame_lines_of(run)[1]
    error = expect_no_value([*run.lines, altered_chunk(second)], run.marker, "conflict")
    assert "line 2 came twice with different content" in str(error)


def test_a_differing_duplicate_coming_first_is_a_conflict_too(run):
    second = frame_lines_of(run)[1]
    expect_no_value([altered_chunk(second), *run.lines], run.marker, "conflict")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lines_in_any_order_give_the_value(run, seed):
    lines = list(run.lines)
    random.Random(seed).shuffle(lines)
    assert reader_of(lines, run.marker).result() == "x" * SIZE
    assert reader_of(lines[::-1], run.marker).result() == "x" * SIZE


def test_trailing_whitespace_and_carriage_returns_are_tolerated(run):
    assert reader_of([line + " \r" for line in run.lines], run.marker).result() == "x" * SIZE


def test_another_runs_reader_takes_nothing(run):
    other = FrameReader("0" * 32)
    assert all(other.feed(line) == line for line in run.lines)
    with pytest.raises(SaturnFrameError):
        other.result()


def test_a_result_declared_over_the_readers_bound_stops_the_reading(run):
    with pytest.raises(SaturnFrameError) as caught:
        reader_of(run.lines, run.marker, result_bound=SIZE).result()
    assert caught.value.reason == "overflow" and f"declares {SIZE + 2} bytes" in str(caught.value)


def test_frames_of_too_many_attempts_stop_the_reading():
    marker = "a" * 32
    payload = error_payload("exception", "ValueError", "boom")
    lines = [line for n in range(MAX_ATTEMPTS + 1) for line in frame_lines(marker, f"{n:016x}", ERROR_KIND, payload)]
    reader = reader_of(lines, marker)
    assert reader.lines_taken == MAX_ATTEMPTS
    with pytest.raises(SaturnFrameError, match="more than 8 attempts"):
        reader.result()


def test_the_chunks_held_stay_under_the_bound():
    marker = "b" * 32
    payload = b"e" * ERROR_PAYLOAD_BOUND  # frames as large as an error frame may be
    reader = FrameReader(marker, result_bound=1000)
    for n in range(MAX_ATTEMPTS):
        for line in frame_lines(marker, f"{n:016x}", ERROR_KIND, payload):
            reader.feed(line)
    assert reader.lines_taken * CHUNK_CHARS <= held_bound(1000)
    with pytest.raises(SaturnFrameError) as caught:
        reader.result()
    assert caught.value.reason == "overflow"


def test_a_verified_result_wins_over_a_cut_line_of_an_earlier_pod():
    marker = "c" * 32
    dead = frame_lines(marker, "1" * 16, RESULT_KIND, b'"partial"')[0][:-5]  # a pod killed mid-line
    good = frame_lines(marker, "2" * 16, RESULT_KIND, b'"whole"')
    assert reader_of([dead, *good], marker).result() == "whole"


def test_the_last_error_frame_is_raised_when_no_result_came():
    marker = "d" * 32
    first = frame_lines(marker, "1" * 16, ERROR_KIND, error_payload("exception", "KeyError", "first"))
    second = frame_lines(marker, "2" * 16, ERROR_KIND, error_payload("exception", "KeyError", "second"))
    with pytest.raises(SaturnRemoteError, match="second"):
        reader_of(first + second, marker).result()


def test_an_error_frame_that_is_not_the_error_object_is_corrupt():
    marker = "e" * 32
    lines = frame_lines(marker, "1" * 16, ERROR_KIND, b'["not", "an", "object"]')
    expect_no_value(lines, marker, "corrupt")


def test_a_json_reader_never_unpickles():
    marker = "f" * 32
    lines = frame_lines(marker, "1" * 16, RESULT_KIND, b"\x80\x04K\x01.")  # pickle of 1
    expect_no_value(lines, marker, "corrupt")


@pytest.mark.parametrize(
    "options",
    [{"marker": "A" * 32}, {"marker": "short"}, {"serializer": "pickle"}, {"result_bound": 0}, {"result_bound": True}],
)
def test_a_reader_refuses_bad_settings(options):
    arguments = {"marker": "0" * 32, **options}
    with pytest.raises(ValueError):
        FrameReader(**arguments)
