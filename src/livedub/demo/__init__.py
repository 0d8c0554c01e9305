"""The demo: a clip with real speech over music, built from Debian packages, and its run."""
