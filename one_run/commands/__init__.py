"""One use case a module, as the CLI names them; each takes typed arguments, never argparse's
namespace. Apply's use case is deploy.apply.apply, which maintenance, rollback and switch
reach too."""
