"""Typed samples of user code (sample_*.py): type-checked by tools/typecheck.sh, run by
tests/test_typing_samples.py. Not test modules themselves."""
