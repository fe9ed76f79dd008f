"""The ground floor: what every part of Bidbell may import, and which imports none of them.

- ``bidbell.settings``: the one settings object (``BIDBELL_*`` environment variables);
- ``bidbell.clock``: now, the UK zone, and the one reader of published dates and times;
- ``bidbell.records``: the record contract between capture and store (``RawNotice``,
  ``RawError``);
- ``bidbell.ids``: Bidbell OCIDs, stable ids, OCDS release ids, GUIDs;
- ``bidbell.jsoncodec``: JSON in and out (fast for our own data, guarded for outside data).

The rooms above it (DESIGN.md): models -> spiders / matching / notifiers -> flows -> web /
demo -> cli. An import-linter contract in pyproject.toml keeps imports pointing down.
"""
