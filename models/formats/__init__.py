"""Record formats other than OCDS releases, one module each (see models.normalise.FORMATS)."""
