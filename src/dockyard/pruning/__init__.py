"""Pruning and garbage collection, online: what goes, decided in SQL snapshots, and deletes
guarded in the database so that a push racing them never ends with a manifest that points at
something gone.
"""
