"""Fixtures shared by the check tests: the network-namespace topology and its worker."""

from tests.checks.netns import net, topology, worker  # noqa: F401 - pytest finds fixtures here
