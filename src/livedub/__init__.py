"""livedub: live dubbing for broadcasters."""

__version__ = "0.1.0"
