"""sysnative: pure-Python wheels from the package index, native code from the system."""

__version__ = "0.1.0.dev0"
