"""The store: tables and their migrations, the engine and sessions (SQLite or PostgreSQL),
the one place where SQL dialects differ (``upsert``), storing notices and rebuilding the
opportunities they describe (``store``, ``merge``, ``events``), linking listings of one
procurement (``listings``), checkpoints, subscribers, and the read-side queries."""
