"""Recipes: `python -m recipes.<name>` trains, logs, and exports one model (thin wiring only)."""
