"""RSS 2.0 of stored opportunities (built with ElementTree, so it is always well-formed)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from notifiers.render import uk_time, value_text

ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("atom", ATOM)


def render_rss(
    opportunities: Iterable[Any], *, title: str, link: str, self_url: str, now: datetime
) -> bytes:
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = title
    ET.SubElement(channel, "link").text = link
    ET.SubElement(
        channel, "description"
    ).text = "Public contract opportunities collected by Bidbell."
    ET.SubElement(channel, "language").text = "en-gb"
    ET.SubElement(channel, "lastBuildDate").text = format_datetime(now.astimezone(UTC))
    ET.SubElement(
        channel, f"{{{ATOM}}}link", {"href": self_url, "rel": "self", "type": "application/rss+xml"}
    )
    for o in opportunities:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = o.title or o.ocid
        if o.url:
            ET.SubElement(item, "link").text = o.url
        ET.SubElement(item, "guid", {"isPermaLink": "false"}).text = f"{o.ocid}#v{o.version}"
        when = o.updated_at or o.published_at
        if when is not None:
            ET.SubElement(item, "pubDate").text = format_datetime(when.astimezone(UTC))
        value = value_text(
            o.value_amount, o.value_currency, gross=o.value_amount_gross, minimum=o.value_min
        )
        ET.SubElement(item, "description").text = (
            f"{o.buyer_name or 'Buyer not stated'} | "
            f"{value} | "
            f"deadline {uk_time(o.deadline)} | stage {o.stage}"
        )
        for code in o.cpv_codes:
            ET.SubElement(item, "category", {"domain": "CPV"}).text = code
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)


def write_rss(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # readers never see a half-written feed
    return path
