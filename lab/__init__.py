"""Applications that drive a whole podlab cluster: `podlab up/down` and chaos (not library code)."""
