"""Record formats: one reader per publisher format, each turning one record (as a spider or a
file import wrote it in ``RawNotice.payload``) into ``NoticeFields`` or a ``NormaliseError``
naming the reason. A spider says which format each record is in; adding a format is one line
in ``FORMATS`` and one module here.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from models.formats.fields import NormaliseError, NoticeFields

log = logging.getLogger(__name__)

FORMATS: dict[str, str] = {
    "ocds-release": "models.formats.ocds:normalise_release",
    "ocds-proactis": "models.formats.ocds:normalise_proactis_release",
    "listing-row": "models.formats.listing:normalise_listing_row",
    "feed-entry": "models.formats.feed:normalise_feed_entry",
    "cf-csv-row": "models.formats.contracts_finder_csv:normalise_cf_csv_row",
    "procontract-advert": "models.formats.procontract:normalise_procontract_advert",
}

_READERS: dict[str, Any] = {}


def reader(fmt: str) -> Any:
    """The function that reads records of format ``fmt``."""
    func = _READERS.get(fmt)
    if func is None:
        target = FORMATS.get(fmt)
        if target is None:
            raise NormaliseError(
                f"unknown record format {fmt!r}; known: {', '.join(sorted(FORMATS))}"
            )
        module, _, name = target.partition(":")
        func = _READERS[fmt] = getattr(importlib.import_module(module), name)
    return func


def normalise(fmt: str, source: str, payload: Any) -> NoticeFields:
    """Any record format -> NoticeFields; raises NormaliseError naming the problem.

    The readers check what they read; should one still meet a shape it did not expect
    (a bug, not bad input), the record is rejected with the error named, and logged with
    its traceback, rather than stopping the records beside it."""
    func = reader(fmt)
    try:
        result: NoticeFields = func(source, payload)
    except NormaliseError:
        raise
    except RecursionError:
        raise NormaliseError("record nested too deeply to read") from None
    except Exception as exc:  # a record never stops the others
        log.exception("%s: the %s reader failed on a record", source, fmt)
        raise NormaliseError(
            f"unreadable {fmt} record ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    return result


__all__ = ["FORMATS", "NormaliseError", "NoticeFields", "normalise", "reader"]
