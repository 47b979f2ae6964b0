"""The HTTP layer: routing, middleware and rendering. Handlers parse, call a service, answer."""
