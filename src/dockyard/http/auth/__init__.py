"""Authentication: who is asking, and the token endpoints that let them prove it."""
