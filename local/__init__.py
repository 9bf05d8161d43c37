"""Dev-only tooling for the local stack; never imported by chalicelib/ or app.py."""
