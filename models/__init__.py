"""The domain: tables, engine/session, upserts, migrations, and pure derivations."""
