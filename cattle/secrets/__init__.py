"""Secrets: age keys and their custody, SOPS configuration and files, the declared secret specs, the plaintext guard,
secrets.check, and adopt (making the repository yours).

May import: the core (cattle.errors, paths, console, yamlio, tools, env, ...). Nothing above it.
"""
