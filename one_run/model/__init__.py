"""The profile model, with no engine in sight: profile → validated RunSpec → argv, and the
normal form a container's configuration is compared in. `render` needs nothing else."""
