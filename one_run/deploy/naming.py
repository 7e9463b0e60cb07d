"""The names and labels one-run gives the containers it makes, read by apply, its guards and status."""
NEW_SUFFIX = "-one-run-new"  # the new container, from its create until the swap
OLD_SUFFIX = "-one-run-old"  # the previous one, from the swap until the new one passed its watch
KEPT_INFIX = "-previous-"    # --keep-previous: <name>-previous-<its short ID>, stopped
PROFILE_LABEL = "one-run.profile"  # the profile a container was applied from
APPLIED_LABEL = "one-run.applied"  # when


def kept_name(name: str, cid: str) -> str:
    return f"{name}{KEPT_INFIX}{cid[:12]}"
