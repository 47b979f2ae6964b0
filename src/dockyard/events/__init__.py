"""Registry events: webhook notifications fed by the change log, pulls recorded into it."""
