"""Runs CPython's own test.test_asyncio against aiotrio (see README.md)."""
