"""apt and dpkg (Debian, Ubuntu): :class:`~sysnative.providers.apt.provider.AptProvider`."""
