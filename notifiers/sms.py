"""SMS text: one GSM-7 segment, at most 160 septets.

A message with one character outside the GSM 03.38 alphabet goes out as UCS-2 (70
characters a segment) or splits in parts, and costs more; so every text is first folded
into GSM-7 (curly quotes and dashes to their plain forms, accents dropped where the
alphabet lacks the letter, anything else "?"), then measured in septets (the extension
characters ^ { } [ ] ~ | \\ € take two), and the title is shortened to fit.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from urllib.parse import urlsplit

from bidbell.clock import to_uk

SEGMENT = 160
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
_BASIC = frozenset(GSM7_BASIC)
_EXTENSION = frozenset(GSM7_EXTENSION)
_FOLD = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": "-", "\u00a0": " ", "\u2009": " ",
    "\u202f": " ", "\t": " ", "ç": "Ç", "`": "'", "\u00b4": "'", "\u00ad": "",
}  # fmt: skip


def is_gsm7(text: str) -> bool:
    return all(c in _BASIC or c in _EXTENSION for c in text)


def septets(text: str) -> int:
    """Length in GSM-7 septets (an extension character takes two). ValueError if the
    text is not GSM-7."""
    n = 0
    for c in text:
        if c in _BASIC:
            n += 1
        elif c in _EXTENSION:
            n += 2
        else:
            raise ValueError(f"{c!r} is not in the GSM-7 alphabet")
    return n


def to_gsm7(text: str) -> str:
    """Text folded into the GSM-7 alphabet, whitespace collapsed."""
    out: list[str] = []
    for c in text:
        if c in _BASIC or c in _EXTENSION:
            out.append(c)
            continue
        if c in _FOLD:
            out.append(_FOLD[c])
            continue
        plain = "".join(
            ch for ch in unicodedata.normalize("NFKD", c) if not unicodedata.combining(ch)
        )
        out.append(plain if plain and all(ch in _BASIC for ch in plain) else "?")
    return " ".join("".join(out).split())


def encode_gsm7(text: str) -> bytes:
    """The septets as unpacked bytes (one a character, ESC before an extension one), as a
    gateway sends them: proves the text encodes and counts what it costs."""
    out = bytearray()
    for c in text:
        if c in _EXTENSION:
            out.append(0x1B)
            out.append(GSM7_EXTENSION_CODES[c])
        else:
            out.append(GSM7_BASIC_CODES[c])
    return bytes(out)


# GSM 03.38 code points (the basic table with ESC at 0x1B, and the extension table).
_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_BASIC_CODES = {c: i for i, c in enumerate(_TABLE) if c != "\x1b"}
GSM7_EXTENSION_CODES = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
    "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip


def short_link(url: str) -> str:
    """A notice's address as a phone shows it and links it: no scheme, no "www."."""
    parts = urlsplit(url)
    if not parts.netloc:
        return url
    host = parts.netloc.removeprefix("www.")
    rest = url[url.index(parts.netloc) + len(parts.netloc) :]
    return host + rest


def closes(deadline: datetime | None) -> str | None:
    """'closes Fri 6 Nov' (UK date)."""
    if deadline is None:
        return None
    d = to_uk(deadline)
    return f"closes {d:%a} {d.day} {d:%b}"


def shorten(title: str, room: int) -> str:
    """The title cut at a word to fit ``room`` septets, "..." marking the cut."""
    if septets(title) <= room:
        return title
    cut = title
    while cut and septets(cut) + 3 > room:
        cut = cut[:-1]
    if " " in cut[len(cut) // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "..."


def compose_sms(lead: str, title: str, facts: list[str], link: str | None) -> str:
    """One GSM-7 segment: "<lead>: <title>, <facts>. <link>", the title shortened to fit;
    without the link if even a short title cannot sit beside it."""
    lead, title = to_gsm7(lead), to_gsm7(title)
    facts = [to_gsm7(f) for f in facts if f]
    tail = (", " + ", ".join(facts)) if facts else ""
    for with_link in (True, False):
        end = f". {to_gsm7(link)}" if link and with_link else "."
        fixed = septets(f"{lead}: ") + septets(tail) + septets(end)
        room = SEGMENT - fixed
        if room >= min(20, septets(title)):
            text = f"{lead}: {shorten(title, room)}{tail}{end}"
            if septets(text) <= SEGMENT:
                return text
    text = f"{lead}: {title}"
    return shorten(text, SEGMENT)
