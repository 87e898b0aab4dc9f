"""What git declares, rendered and checked offline: the Flux sync objects, rendering (kustomize + Flux
substitution), schemas and policy rules, ordering, capacity and timeouts, the compatibility and versions tables,
validate, diff, and chart rendering.

May import: the core, cattle.secrets, cattle.vault, cattle.database (the variables a database decision sets).
"""
