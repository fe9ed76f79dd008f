"""Source text is untrusted: what a notice says is shown only after a maintained sanitiser
(nh3, the Python binding of the Rust crate ammonia) has kept a few harmless tags."""

from __future__ import annotations

import re

import nh3
from markupsafe import Markup, escape

TAGS = {"p", "br", "ul", "ol", "li", "strong", "em", "b", "i", "u", "a", "h3", "h4", "table",
        "thead", "tbody", "tr", "th", "td", "blockquote"}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "th": {"scope"}}
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


def sanitise_html(text: str | None) -> Markup:
    """Safe HTML from a notice's text: HTML kept to the tags above (links to http, https and
    mailto only, with rel="nofollow noopener noreferrer"); plain text escaped, its blank
    lines made paragraphs and its line breaks kept."""
    if not text or not text.strip():
        return Markup("")
    if _TAG.search(text):
        return Markup(
            nh3.clean(
                text,
                tags=TAGS,
                attributes=ATTRIBUTES,
                url_schemes={"http", "https", "mailto"},
                link_rel="nofollow noopener noreferrer",
                strip_comments=True,
            )
        )
    paragraphs = re.split(r"(?:\r?\n\s*){2,}", text.strip())
    return Markup("").join(
        Markup("<p>")
        + Markup("<br>").join(escape(line) for line in p.splitlines())
        + Markup("</p>")
        for p in paragraphs
    )
