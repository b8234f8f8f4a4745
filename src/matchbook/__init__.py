"""Matchbook: a price-time priority exchange."""
