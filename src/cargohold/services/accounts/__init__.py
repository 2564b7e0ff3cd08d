"""People and what they may do: users, workspaces, projects, source repositories, the
roles these grant (principals), API and access tokens, logins and the token signing key.

Imports nothing from the other domains (registry and lifecycle build on it)."""
