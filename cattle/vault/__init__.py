"""OpenBao (Vault) state: snapshots and their store format, backup/restore/verify against a server, the restore
decision at preflight, first setup (init record), a local throwaway server, and the in-cluster endpoint.

May import: the core and cattle.secrets.
"""
