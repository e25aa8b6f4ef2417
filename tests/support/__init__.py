"""Helpers the test tiers share: processes on free ports, waiting on conditions."""
