"""Rendering (sandboxed Jinja), dispatch through apprise (one delivery row per attempt), and
feeds. RSS and digests are renderers over the same stored data, not separate pipelines."""
