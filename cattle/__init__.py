"""cattle: rebuild every environment from git."""

__version__ = "0.1.0"
