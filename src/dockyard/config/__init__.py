"""Process settings: a YAML file, ``REGISTRY_*`` environment overrides and flags, validated once."""

from dockyard.config.loader import load_config
from dockyard.config.model import Settings, dump_settings

__all__ = ["Settings", "dump_settings", "load_config"]
