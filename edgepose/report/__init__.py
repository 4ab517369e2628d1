"""Reports: before/after step facts (compare.py), the optimize report model, tables and plots."""
