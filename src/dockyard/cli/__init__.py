"""The ``dockyard`` command. Each command group is a module with ``register(commands)``."""
