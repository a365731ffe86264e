"""tracker: a self-hosted tracking pixel and redirect server for email marketing."""

__version__ = "0.1.0"
