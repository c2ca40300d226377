"""Test doubles shared by unit tests, type-checked against what they stand in for."""
