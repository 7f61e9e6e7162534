"""Homebrew (macOS): :class:`~sysnative.providers.brew.provider.BrewProvider`."""
