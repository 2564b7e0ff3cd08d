"""Side-by-side benchmark of Cargohold and the reference registry (CNCF distribution).

Run ``python -m bench --help``.
"""
