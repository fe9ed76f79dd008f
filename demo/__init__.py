"""The demo harness, a room of its own (like bench/): the local replay server and its sites
(``demo.replay``), the pages and feeds built from documented layouts where no public capture
exists (``demo/constructed/``, each labelled as constructed), the local SMTP sink
(``demo.mailsink``) and ``bidbell demo`` itself (``demo.run``). Tests use the same pieces.
Nothing in the product imports this package."""
