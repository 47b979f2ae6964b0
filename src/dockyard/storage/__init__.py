"""Byte stores. Knows nothing of repositories, tags or metadata."""
