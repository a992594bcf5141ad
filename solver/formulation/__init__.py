"""Exact formulations: the column and pattern models, and starting choices for them."""
