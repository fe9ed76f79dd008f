"""The record contract between capture and store: the strict records a spider (or a file
import) emits. Anything else is a programming error.

``RawNotice``: one source record as published, plus where and when we got it.
``RawError``: a page or record we could not use, with the reason and the raw body.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RawNotice(BaseModel):
    """One source record, exactly as published, plus where and when we got it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["notice"] = "notice"
    source: str = Field(min_length=1)
    format: str = Field(
        default="ocds-release",
        description="How to read the payload: a key of models.formats.FORMATS.",
    )
    source_id: str = Field(min_length=1, description="The record's own id at the source.")
    ocid: str | None = None
    url: str = Field(min_length=1, description="The page the record came from.")
    notice_url: str | None = Field(
        default=None, description="Where a person reads this notice, if the source says."
    )
    fetched_at: str = Field(description="ISO 8601 UTC.")
    payload: dict[str, Any]


class RawError(BaseModel):
    """A page or record we could not use: what, where, why, and the raw bytes (as text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["error"] = "error"
    source: str
    url: str
    reason: str
    status: int | None = None
    record: str | None = Field(default=None, description="Record id/position, if one record.")
    fetched_at: str
    body: str = Field(default="", description="The raw payload kept for inspection.")
