"""The web front (top floor, beside the command line): browse and search, opportunity pages,
feeds, sign-up with double opt-in, preferences by signed link, unsubscribe, admin.
``web.app.create_app()`` builds the FastAPI app; ``bidbell web`` serves it."""
