"""deploykit's version: one place, read by the package's face and by the files it writes."""

__version__ = "0.1.0"
