"""OCDS export support: the vendored OCDS 1.1.5 schemas and Lots extension (``schema/``),
Bidbell's own documented extension (``extension/``) and the offline validator
(``models.ocds.validate``)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
CORE_SCHEMA_DIR = HERE / "schema" / "1__1__5"
LOTS_SCHEMA_DIR = HERE / "schema" / "extensions" / "lots" / "v1.1.5"
# extension.json, release-schema.json and README.md of the `bidbell` extension: a web app
# serves these beside each other (an OCDS extension's files are found relative to its
# extension.json).
EXTENSION_DIR = HERE / "extension"

OCDS_VERSION = "1.1"
RELEASE_SCHEMA_URL = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"
LOTS_EXTENSION_URL = (
    "https://raw.githubusercontent.com/open-contracting-extensions/"
    "ocds_lots_extension/v1.1.5/extension.json"
)


def extension_url(public_url: str) -> str:
    """Where the `bidbell` extension's extension.json is served."""
    return f"{public_url.rstrip('/')}/ocds/extension.json"
