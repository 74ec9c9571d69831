"""Tests of the office node and its sync engine."""
