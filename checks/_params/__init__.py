"""Each check's parameters dataclass, one leaf module per check (checks/_params/<check>.py).

The collector reads them (fleet and config validation, docs) without importing a check: see
:func:`checks.catalogue.params_of`."""
