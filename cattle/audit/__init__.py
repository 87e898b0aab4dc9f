"""What a rebuild from git would lose: `cattle audit` compares a live cluster with git's rendering of its
environment (fields: managedFields paths; baseline: what the cluster makes by itself; live: the objects read once;
checks: the four questions; findings: the report; run: the task's flow)."""
