"""Proving recovery: the total-loss drill, the no-cluster rehearsal, the runner's facts, and the run history kept on
the branch cattle-runs.

May import: everything below it (up to cattle.bootstrap).
"""
