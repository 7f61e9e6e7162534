"""dnf and rpm (Fedora, RHEL): :class:`~sysnative.providers.dnf.provider.DnfProvider`."""
