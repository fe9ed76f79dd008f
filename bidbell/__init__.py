"""Bidbell: settings, command line and the offline demo harness.

The product code lives in the top-level packages (see DESIGN.md): spiders, models,
matching, notifiers, flows. This package holds what they share (settings) and the
entry points that drive them.
"""
