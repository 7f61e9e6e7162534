"""System package providers (apt first; dnf, conda and Homebrew later)."""
