"""The one reader of published dates and times (bidbell.clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bidbell.clock import deadline, find_deadline, parse_instant, parse_iso, published


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "as_published", "as_deadline"),
    [
        ("05/11/2026 12:00", utc(2026, 11, 5, 12, 0), utc(2026, 11, 5, 12, 0)),
        ("23/10/2026 12:00", utc(2026, 10, 23, 11, 0), utc(2026, 10, 23, 11, 0)),  # BST
        # the hour that repeats when the clocks go back: the first
        ("25/10/2026 01:30", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 0, 30)),
        # a date alone: the start of that UK day for a publication, the end for a deadline
        ("05/11/2026", utc(2026, 11, 5, 0, 0), utc(2026, 11, 5, 23, 59, 59)),
        ("12 Oct 2026", utc(2026, 10, 11, 23, 0), utc(2026, 10, 12, 22, 59, 59)),
        ("2026-10-12", utc(2026, 10, 11, 23, 0), utc(2026, 10, 12, 22, 59, 59)),
        ("5 November 2026 12:00", utc(2026, 11, 5, 12, 0), utc(2026, 11, 5, 12, 0)),
        ("Friday 20th March 2026 at 5pm", utc(2026, 3, 20, 17), utc(2026, 3, 20, 17)),
        ("12 noon on 5 Nov 2026", utc(2026, 11, 5, 12), utc(2026, 11, 5, 12)),
        ("Mon, 05 Oct 2026 08:00:00 GMT", utc(2026, 10, 5, 8, 0), utc(2026, 10, 5, 8, 0)),
        ("2026-10-05T09:00:00", utc(2026, 10, 5, 8, 0), utc(2026, 10, 5, 8, 0)),  # UK time
        ("2026-10-05T09:00:00Z", utc(2026, 10, 5, 9, 0), utc(2026, 10, 5, 9, 0)),
        ("2026-10-05T09:00:00+02:00", utc(2026, 10, 5, 7, 0), utc(2026, 10, 5, 7, 0)),
        ("31/02/2026 12:00", None, None),
        ("25/12/2026 25:00", None, None),
        ("soon", None, None),
        ("", None, None),
        ("9" * 500, None, None),
    ],
)
def test_one_reader_for_every_format(text, as_published, as_deadline) -> None:
    assert published(text) == as_published
    assert deadline(text) == as_deadline
    for got in (published(text), deadline(text)):
        assert got is None or got.tzinfo is UTC


def test_not_text_is_no_date() -> None:
    for value in (None, 20261105, ["05/11/2026"], {"date": "05/11/2026"}):
        assert parse_instant(value, day="start") is None


def test_closing_date_in_free_text() -> None:
    assert find_deadline("Closing date: 14/03/2026 at 12:00") == utc(2026, 3, 14, 12)
    # a date alone in free text is a deadline: the end of that day
    assert find_deadline("The deadline is 14 March 2026.") == utc(2026, 3, 14, 23, 59, 59)
    assert find_deadline("no dates here") is None


def test_strict_iso_for_options() -> None:
    assert parse_iso("2026-10-05T09:00:00") == utc(2026, 10, 5, 8, 0)
    assert parse_iso("2026-10-05") == utc(2026, 10, 4, 23, 0)
    with pytest.raises(ValueError):
        parse_iso("05/10/2026")
