"""A deployment on an engine: apply and its steps (plan, swap, watch, commit, undo), its
guards, and its state (lock, journal, history, snapshots)."""
