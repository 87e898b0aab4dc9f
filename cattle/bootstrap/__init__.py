"""The rebuild: preflight facts, the plan, the cluster (through cattle.providers), Flux install, secret zero, sync,
the reconcile wait, the timeline; serving a checkout; every environment at once (fleet).

May import: everything below it (core, secrets, vault, database, manifests, providers).
"""
