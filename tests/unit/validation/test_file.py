"""The file as a whole: encoding, line endings, blank lines, JSON that is not JSON Lines, sizes, and reading
it as a stream whatever the chunk boundaries."""

from __future__ import annotations

import dataclasses
import json

import pytest

from customizer.families import BaseModel
from customizer.validation import CheckSettings, DataSource, Role, reader, validate_data
from customizer.validation import validator as validator_module
from tests.unit.validation.corpus import TITAN, check, chunked, good_records, jsonl, model, only, pair

GOOD = jsonl(good_records(TITAN, n=5))


# ---- decisions: accepted ----


def test_crlf_line_endings_are_accepted_and_noted(json_backend):
    report = check(GOOD.replace(b"\n", b"\r\n"))
    assert report.valid and report.verdict == "valid"
    assert report.file("training").line_endings == "CRLF"  # type: ignore[union-attr]


def test_mixed_line_endings_are_accepted_and_noted():
    data = GOOD.replace(b"\n", b"\r\n", 2)
    report = check(data)
    assert report.valid
    assert report.file("training").line_endings == "mixed LF and CRLF"  # type: ignore[union-attr]


def test_a_missing_final_newline_is_accepted(json_backend):
    report = check(GOOD.rstrip(b"\n"))
    training = report.file("training")
    assert report.valid and training is not None
    assert (training.records, training.lines, training.final_newline) == (5, 5, False)


def test_blank_lines_are_skipped_with_a_warning_naming_the_first():
    lines = GOOD.split(b"\n")
    data = b"\n".join([lines[0], b"", lines[1], b"  \t", b"\r", *lines[2:]])
    report = check(data)
    assert report.valid and report.verdict == "valid, with warnings"
    warning = only(report, "blank_lines", warnings=True)
    assert (warning.line, warning.field) == (2, None)
    assert warning.message.startswith("3 blank lines")
    assert report.file("training").records == 5  # type: ignore[union-attr]


# ---- decisions: errors ----


def test_a_byte_order_mark_is_an_error_and_the_first_line_is_still_checked(json_backend):
    report = check(b"\xef\xbb\xbf" + b'{"prompt": "q"}\n' + GOOD)
    assert report.errors.counts == {"missing_key": 1, "byte_order_mark": 1}
    bom = only(report, "byte_order_mark")
    assert (bom.line, bom.field) == (1, None)
    assert "byte-order mark" in bom.message and "without BOM" in bom.message
    missing = only(report, "missing_key")
    assert (missing.line, missing.field) == (1, "completion")


def test_a_json_array_on_one_line_is_named():
    report = check(json.dumps(good_records(TITAN, n=3)).encode())
    finding = only(report, "json_array")
    assert (finding.line, finding.field) == (1, None)
    assert "not JSON Lines" in finding.message
    assert report.errors.total == 1


def test_a_json_array_with_one_object_per_line_is_named_at_each_line():
    records = [json.dumps(r) for r in good_records(TITAN, n=3)]
    data = ("[\n" + ",\n".join(records) + "\n]\n").encode()
    report = check(data)
    assert only(report, "json_array").line == 1
    commas = report.errors.kept["invalid_json"]
    assert [f.line for f in commas] == [2, 3]
    assert all("ends with a comma" in f.message for f in commas)
    assert only(report, "pretty_printed").line == 5


def test_pretty_printed_objects_are_named():
    data = b"".join(json.dumps(r, indent=2).encode() + b"\n" for r in good_records(TITAN, n=2))
    report = check(data)
    assert set(report.errors.counts) == {"pretty_printed"}
    assert [f.line for f in report.errors.kept["pretty_printed"]][:4] == [1, 2, 3, 4]
    assert "one line" in report.errors.kept["pretty_printed"][0].message


def test_invalid_utf8_names_the_byte(json_backend):
    report = check(GOOD + b'{"prompt": "\xc3\x28", "completion": "a"}\n')
    finding = only(report, "invalid_utf8")
    assert finding.line == 6
    assert finding.message == "not valid UTF-8: byte 0xc3 at byte 13 of the line"


def test_nan_is_not_json_for_either_parser(json_backend):
    report = check(GOOD + b'{"prompt": "q", "completion": NaN}\n')
    assert only(report, "invalid_json").line == 6


def test_an_empty_file_holds_no_records():
    report = check(b"")
    finding = only(report, "no_records")
    assert finding.message == "/data/train.jsonl holds no records"
    assert report.file("training").lines == 0  # type: ignore[union-attr]


def test_a_line_too_long_to_be_a_record_is_skipped_without_being_held(monkeypatch):
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 1000)
    long_line = b'{"prompt": "' + b"x" * 5000 + b'", "completion": "a"}'
    data = GOOD + long_line + b"\n" + GOOD + long_line  # the last one without a final newline
    for chunk in (7, 300, 4096, 1 << 20):
        facts = reader.FileFacts()
        lines = [line for _, batch in reader.batches(chunked(data, chunk), facts, max_line=1000) for line in batch]
        assert lines.index(None) == 5 and lines[-1] is None, chunk
        assert len(lines) == 12 and facts.lines == 12


def test_a_too_long_line_is_reported_by_number(monkeypatch):
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 500)
    report = check(GOOD + b'{"prompt": "' + b"y" * 2000 + b'", "completion": "a"}\n' + GOOD)
    assert only(report, "line_too_long").line == 6
    assert report.file("training").records == 11  # type: ignore[union-attr]


def _small(limit: int) -> BaseModel:
    return dataclasses.replace(model(TITAN), training_file_max_bytes=limit, validation_file_max_bytes=limit // 2)


def test_a_file_known_to_be_too_large_is_refused_without_reading_it(monkeypatch):
    monkeypatch.setattr(validator_module, "base_model", lambda _: _small(1000))
    opened: list[int] = []

    def chunks() -> list[bytes]:
        opened.append(1)
        return [GOOD]

    training = DataSource(Role.TRAINING, "train.jsonl", chunks, size=1001)
    report = validate_data(CheckSettings(TITAN, "FINE_TUNING"), [training])
    finding = only(report, "file_too_large")
    assert finding.message == f"1,001 bytes; {TITAN} takes at most 1,000"
    assert opened == []
    assert not report.file("training").checked  # type: ignore[union-attr]


def test_a_file_found_too_large_while_reading_is_refused(monkeypatch):
    monkeypatch.setattr(validator_module, "base_model", lambda _: _small(len(GOOD) * 2))
    report = check(GOOD, validation=GOOD + GOOD[:10] + b"\n")
    finding = only(report, "file_too_large")
    assert finding.file == "validation.jsonl"


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64, 1 << 16])
def test_chunk_boundaries_change_nothing(chunk, json_backend):
    lines = GOOD.split(b"\n")
    data = b"\xef\xbb\xbf" + b"\r\n".join([lines[0], b"", b"not json", *lines[1:]]).rstrip(b"\r\n")
    report = check(data, chunk=chunk)
    summary = report.file("training")
    assert summary is not None
    assert (summary.lines, summary.records, summary.blank_lines) == (7, 6, 1)
    assert (summary.byte_order_mark, summary.line_endings, summary.final_newline) == (True, "CRLF", False)
    assert report.errors.counts == {"invalid_json": 1, "byte_order_mark": 1}
    assert only(report, "invalid_json").line == 3


def test_the_data_is_read_once():
    reads = []

    def chunks():
        reads.append(1)
        yield GOOD

    report = validate_data(CheckSettings(TITAN, "FINE_TUNING"), [DataSource(Role.TRAINING, "t", chunks)])
    assert report.valid and reads == [1]


def test_from_path_reads_a_local_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl([pair(i) for i in range(3)]))
    report = validate_data(CheckSettings(TITAN, "FINE_TUNING"), [DataSource.from_path(Role.TRAINING, str(path))])
    assert report.valid
    assert report.file("training").location == str(path)  # type: ignore[union-attr]
