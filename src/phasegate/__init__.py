"""phasegate: take AI use cases from pilot to production through gates decided on evidence."""

__version__ = "0.1.0"
