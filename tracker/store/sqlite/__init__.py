"""The SQLite store: the embedded default (one file, one writer thread)."""
