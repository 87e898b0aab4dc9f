"""The recovery report: facts gathered once (run history, backup freshness, key custody), the model with its
thresholds, and the self-contained HTML page and SVG badges.

May import: everything below it (up to cattle.dr). Nothing imports it but tasks.py.
"""
