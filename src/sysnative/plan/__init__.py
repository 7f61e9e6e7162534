"""Planning: which project comes from where, at which version, and why. Pure.

- :mod:`~sysnative.plan.route`: pure or native (from the chosen release's files), then the
  system or the index (the mapping and the user's :class:`~sysnative.plan.route.RoutePolicy`);
- :mod:`~sysnative.plan.sequential`: the sequential resolution, system side first, resolving
  the index side again until the system packages stop changing;
- :mod:`~sysnative.plan.fixed`: what the system fixes for each pass;
- :mod:`~sysnative.plan.state`: what the passes learn, kept between them;
- :mod:`~sysnative.plan.sysversion`: the version pip will see for a system package;
- :mod:`~sysnative.plan.assemble`: the plan's rows, from the last resolution.

The index and the provider come in through the Protocols of :mod:`sysnative.protocols`.
"""
