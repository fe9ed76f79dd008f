"""Prefect flows and the plain steps they wrap (flows -> spiders/matching/notifiers -> models)."""
