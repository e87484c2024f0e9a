"""Use cases. They speak to the outside world only through ``ports``."""
