"""jaxmice's implementation, in rooms (see README, "How the code is laid out").

Nothing here is public: the public names are in :mod:`jaxmice` and its public modules
(:mod:`jaxmice.methods`, :mod:`jaxmice.models`, :mod:`jaxmice.meta`, :mod:`jaxmice.plots`,
:mod:`jaxmice.batch`, :mod:`jaxmice.programs`, :mod:`jaxmice.sizes`, :mod:`jaxmice.testing`,
:mod:`jaxmice.datasets`). Rooms, from the bottom layer up (a module imports only from its own
layer and those below; ``tests/test_house_rules.py`` holds the rule): ``runtime``,
``numerics``, ``core`` (the data's schema, then the specification and plan), ``adapters``,
``engine``, ``analysis``, ``diagnostics``, ``simulate``.
"""
