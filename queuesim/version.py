"""The package version: a leaf every layer may import (``queuesim.__version__`` re-exports it)."""

__version__ = "0.1.0"
