"""Polyvox business rules: pure, typed functions and dataclasses.

No I/O, no database, no clock reads (time is a parameter), no global randomness
(a random source is a parameter). Every other role calls into these modules.
"""
