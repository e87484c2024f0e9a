"""Engines turn task parameters into media files; the registry picks one per action."""
