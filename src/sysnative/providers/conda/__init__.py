"""conda."""
