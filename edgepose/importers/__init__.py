"""Importers for foreign checkpoints: read them without running their pickles, rebuild with edgepose modules."""
