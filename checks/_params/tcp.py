"""The parameters of the ``tcp`` check (checks/tcp.py), a leaf module: the port check's."""

from __future__ import annotations

from checks._params.port import PortParams

__all__ = ["TcpParams"]

#: the same parameters as ``port``
TcpParams = PortParams
