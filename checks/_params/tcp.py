"""The parameters of the ``tcp`` check (checks/tcp.py), a leaf module: the port check's.

The collector validates fleet files with them (checks.entries through catalogue.params_of)
without importing the check itself; the check imports them from here."""

from __future__ import annotations

from checks._params.port import PortParams

__all__ = ["TcpParams"]

#: the same parameters as ``port``
TcpParams = PortParams
