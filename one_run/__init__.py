"""one-run: keep one OpenNebula Front-end container reproducible from a TOML profile."""

__version__ = "0.1.0"
