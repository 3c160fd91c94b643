"""Reliability tests: bad input, crashes, races, state damage and soak (issue 10)."""
