"""Dumb, key-addressed byte stores; all registry meaning lives above them."""
