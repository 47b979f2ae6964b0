"""Identities, tokens, roles, and the decision whether a principal may do an action."""
