"""clean_text skips ftfy where it can prove ftfy would leave the text as it is
(models.formats.text._ftfy_keeps): on text dense in what ftfy reacts to (its mojibake
categories, real mojibake, C1 and other controls, combining marks, surrogates, line starts
of "Ã "), the result is always the one ftfy gives, and the shortcut is taken often enough
to matter."""

from __future__ import annotations

import random

import ftfy
from ftfy.badness import BADNESS_RE, MOJIBAKE_CATEGORIES

import models.formats.text as T


def _alphabet() -> list[str]:
    chars: set[str] = set()
    for v in MOJIBAKE_CATEGORIES.values():
        i = 0
        while i < len(v):
            if i + 2 < len(v) and v[i + 1] == "-":
                chars.update(chr(c) for c in range(ord(v[i]), ord(v[i + 2]) + 1))
                i += 3
            else:
                chars.add(v[i])
                i += 1
    chars.update(c for c in BADNESS_RE.pattern if ord(c) > 127)
    chars.update(
        "\u0301\u0308\u0327\u202f\ufeff\u206a\ufffc\ud800\udc00"
        "\u00e9\u2019\u2013\u00a3\u2022\u201c\u201d\u0175\u0177\x85\x9d\x1b"
    )
    return sorted(chars)


CHUNKS = [
    "â€™",
    "Ã©",
    "Â£",
    "Ã ",
    "Â ",
    "\nÃ ",
    "\nÂ ",
    "â€œ",
    "\u00c3\u00a2\u00e2\u201a\u00ac\u00e2\u201e\u00a2",
    "ÃƒÂ©",
    "вЂ™",
    "œ ",
]
ASCII = list("abcxyzABC 019.,?!;:-_'\"\n\r\t[")


def _reference(value: str) -> str:
    """clean_text as it was before the shortcut: ftfy on all text that is not ASCII."""
    value = T._CONTROL.sub("", value)
    if not value.isascii():
        value = ftfy.fix_text(value, T._FTFY)
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def test_clean_text_equals_ftfy_on_text_dense_in_what_ftfy_repairs() -> None:
    rng = random.Random(20261202)
    chars = _alphabet()
    kept = 0
    for i in range(20_000):
        density = (0.3, 0.55, 0.9)[i % 3]  # share of plain ASCII characters
        parts = []
        for _ in range(rng.randint(0, 40)):
            r = rng.random()
            if r < density:
                parts.append(rng.choice(ASCII))
            elif r < density + (1 - density) * 0.67:
                parts.append(rng.choice(chars))
            else:
                parts.append(rng.choice(CHUNKS))
        text = "".join(parts)
        if rng.random() < 0.3:
            text = "x" * rng.randint(0, 20) + text + " y" * rng.randint(0, 10)
        assert T.clean_text(text) == _reference(text), repr(text)
        bare = T._CONTROL.sub("", text)
        if not bare.isascii() and T._ftfy_keeps(bare):
            kept += 1
            assert ftfy.fix_text(bare, T._FTFY) == bare, repr(text)
    assert T._FTFY_CHECKED, f"ftfy {ftfy.__version__}: the shortcut is off, re-check it"
    assert kept > 1_000
