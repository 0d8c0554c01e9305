"""Dubbing outside the live path: a media file through the same streaming core."""
