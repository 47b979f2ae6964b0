"""Dockyard: a container image registry with image streams, projects and roles."""

__version__ = "0.1.0"
