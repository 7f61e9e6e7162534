"""brew."""
