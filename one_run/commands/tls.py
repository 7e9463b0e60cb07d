"""`one-run tls renew`: a new self-signed certificate for the same key and names."""
from ..common.errors import UsageError
from ..model.crypto import renew_tls, tls_summary
from ..model.profile import Profile


def renew(profile: Profile, days: int) -> int:
    if profile.tls is None:
        raise UsageError(f"{profile.path}: no [tls] table, so there is no certificate to renew; "
                         "add [tls] with cert and key (or make a deployment with `one-run init`)")
    backup = renew_tls(profile.tls.cert, profile.tls.key, days)
    print(tls_summary(profile.tls.cert))
    print(f"the previous certificate is kept as {backup}")
    print(f"run `one-run apply {profile.path}` to recreate the container with it")
    return 0
