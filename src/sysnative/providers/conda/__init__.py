"""conda, mamba or micromamba environments:
:class:`~sysnative.providers.conda.provider.CondaProvider`."""
