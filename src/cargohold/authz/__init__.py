"""Pure access policy: roles, scopes, token claims (arrives with accounts)."""
