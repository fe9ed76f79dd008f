"""The top floor: the ``bidbell`` command line (``cli.main``)."""
