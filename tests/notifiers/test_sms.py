"""SMS as the gateway stand-in receives it: one GSM-7 segment (at most 160 septets),
title shortened, value, "closes Fri 6 Nov", a short link; a title with characters outside
GSM-7 folded into it."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bidbell.ids import from_short_code, short_code
from models.store.tables import Opportunity
from notifiers.sms import (
    compose_sms,
    encode_gsm7,
    is_gsm7,
    septets,
    short_link,
    shorten,
    to_gsm7,
)
from tests.notifiers.conftest import MOBILE, match, register, run, store_captures


def test_gsm7_alphabet_and_septets() -> None:
    assert is_gsm7("Bidbell: £2.77m, closes Thu 5 Nov. @_!")
    assert septets("abc") == 3
    assert septets("€[]") == 6  # extension characters take two septets each
    assert len(encode_gsm7("a€")) == 3  # ESC + code
    with pytest.raises(ValueError):
        septets("“quoted”")
    assert not is_gsm7("Ŵrecsam \u2013 “café” ☃")


def test_folding_into_gsm7() -> None:
    folded = to_gsm7("Ŵrecsam  \u2013  “café” ☃ façade\u00a0…")
    assert folded == 'Wrecsam - "café" ? faÇade ...'
    assert is_gsm7(folded)


def test_shorten_and_link() -> None:
    assert shorten("one two three four", 12) == "one two..."
    assert septets(shorten("x" * 300, 50)) <= 50
    assert short_link("https://www.find-tender.service.gov.uk/Notice/094476-2026") == (
        "find-tender.service.gov.uk/Notice/094476-2026"
    )


@pytest.mark.parametrize(
    "title",
    [
        "Aldbanks Supported Living",
        "Cyflenwi gwasanaethau gofal \u2013 “Ŵyl” café ☃ " * 8,  # far too long, outside GSM-7
        "[Lot 1] {framework} | ~ ^ € \\ " * 10,  # extension characters cost two septets
    ],
)
def test_every_sms_is_one_gsm7_segment(title: str) -> None:
    link = "find-tender.service.gov.uk/Notice/094476-2026"
    text = compose_sms("Bidbell", title, ["£2.77m", "closes Thu 5 Nov"], link)
    assert is_gsm7(text) and septets(text) <= 160
    assert text.endswith(f", £2.77m, closes Thu 5 Nov. {link}")
    assert len(encode_gsm7(text)) == septets(text)


def test_sms_as_received(engine, fts_files, gateway, delivery_env) -> None:
    settings = delivery_env()
    store_captures(engine, fts_files)
    with Session(engine) as s:  # a title with characters outside GSM-7 (constructed)
        opp = s.exec(select(Opportunity).where(Opportunity.title.contains("Aldbanks"))).one()
        opp.title = "Gwasanaethau Byw â Chymorth \u2013 “Aldbanks” Supported Living ☃ " + opp.title
        s.add(opp)
        s.commit()
        code = short_code(opp.id or 0)
    register(engine, mobile=MOBILE, channels=["email", "sms"])
    match(engine)
    r = run(engine, settings)
    assert r.sent == 2  # the email and the SMS
    (sms,) = gateway.received
    assert sms.to == MOBILE
    text = sms.text
    assert is_gsm7(text) and septets(text) <= 160, (septets(text), text)
    assert text.startswith('Bidbell: Gwasanaethau Byw a Chymorth - "Aldbanks" Supported')
    assert "..." in text  # the title was shortened to fit
    # the short link opens our page of it (web: /o/<code> -> /opportunities/<id>)
    assert text.endswith(f", £2.77m, closes Thu 5 Nov. bidbell.example.org/o/{code}")


def test_short_codes_round_trip() -> None:
    assert [short_code(n) for n in (0, 35, 36, 123456)] == ["0", "z", "10", "2n9c"]
    assert all(from_short_code(short_code(n)) == n for n in range(0, 100_000, 997))
    assert from_short_code("") is None and from_short_code("a/b") is None
    assert from_short_code("z" * 13) is None
