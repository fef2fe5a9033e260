"""Each check's parameters dataclass, one leaf module per check (checks/_params/<check>.py).

The collector reads them (fleet and config validation, docs) without importing a check: it
validates fleet files with them (checks.entries through :func:`checks.catalogue.params_of`), and
each check imports its dataclass from here.  A module declares only its own parameters; the rules
several share (a port number, WARNING not above CRITICAL, a duration above 0, an SSH login) are
one function each in :mod:`checks.params`."""
