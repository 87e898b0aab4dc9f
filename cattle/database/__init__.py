"""The database's backups: generations and base backups in the store, the initdb/recovery decision, on-demand base
backups through CloudNativePG, and the restore drill into a throwaway local PostgreSQL.

May import: the core, cattle.secrets and cattle.vault (a free local port).
"""
