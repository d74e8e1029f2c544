"""Scale-out: chief/worker roles, the local launcher, the project lock."""
