"""Capture only: one small file per source under ``spiders/sources/``.

Output is strict ``RawNotice`` / ``RawError`` records written as JSON Lines. No database, no
Prefect. Each crawl runs in its own process: ``python -m spiders.run NAME --out FILE``.
"""
