"""The Wardround collector: the central service agents push their check results to.

It stores results idempotently, keeps the latest state of every check item,
answers the HTTP API under ``/api/v1`` and exports Prometheus metrics.  From
outside itself it imports only :mod:`checks.result`, the wire model.
"""

__version__ = "0.1.0"
