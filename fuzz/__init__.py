"""Fuzzing image_processor's image path: `scripts/fuzz.sh` (see __main__.py)."""
