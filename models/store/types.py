"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import lz4.frame
from sqlalchemy import JSON, DateTime, LargeBinary
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, UserDefinedType

from bidbell import jsoncodec


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every dialect.

    SQLite has no time zones: we store UTC and re-attach the zone when reading.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Bidbell stores aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_utc_text(value: datetime | None) -> str | None:
    """An aware datetime as ``UTCDateTime`` writes it to SQLite, the same text SQLAlchemy's
    processors make (UTC, no zone, six digits of microseconds: ``2026-10-06 18:00:00.000000``)
    at half their cost: the bulk-insert fast paths (models.store.upsert) bind a notice's eight
    timestamps with it. tests/models/store/test_fast_paths.py checks the two agree."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Bidbell stores aware UTC only")
        value = value.astimezone(UTC)
    text = value.isoformat(" ")[:-6]  # without "+00:00"
    return text if value.microsecond else text + ".000000"


class JSONType(TypeDecorator[Any]):
    """JSONB on PostgreSQL, JSON elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class PackedJSON(bytes):
    """JSON text compressed already (an lz4 frame), as a notice's payload is kept: packed
    where the record was parsed (a worker process), written as it is."""

    __slots__ = ()


LZ4_MAGIC = b"\x04\x22\x4d\x18"  # how an lz4 frame begins (JSON text begins with "{")


def pack_json(text: str | bytes) -> PackedJSON:
    return PackedJSON(lz4.frame.compress(text.encode("utf-8") if isinstance(text, str) else text))


def unpack_json(value: bytes | str) -> Any:
    """A stored payload read back: an lz4 frame, or JSON text as stored before payloads were
    packed (text on SQLite; on PostgreSQL the bytes of the json column converted by 0014)."""
    if isinstance(value, bytes) and value[:4] == LZ4_MAGIC:
        return jsoncodec.loads(lz4.frame.decompress(value))
    return jsoncodec.loads(value)


class _Stored(UserDefinedType[Any]):
    """A SQLite column's value as the driver gives it (text or bytes), declared JSON."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "JSON"


class PayloadJSON(TypeDecorator[Any]):
    """A notice's payload: the JSON text in an lz4 frame, on both databases (a 7 kB payload
    in 3 kB; 14 us to compress one, 6 us to read one back), packed where the record was
    parsed (the store's workers). SQLite compresses nothing: the same 10,000 notices stored
    at 2,111/2,200 notices/s as text, 2,268/2,311 packed. On PostgreSQL the column is bytea
    stored as it is (no TOAST compression: migration 0014): as json text (0013) the server
    checked and lz4-compressed every payload itself, 0.038 ms a row of its time and 0.023
    of the writer's to send it, against 0.009 and 0.002 packed (COPY of 5,000 real
    payloads). A payload stored as JSON text before is read as it is."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_Stored())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or isinstance(value, PackedJSON):
            return value
        return pack_json(jsoncodec.dumps(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return value
        return unpack_json(value)
