"""Site policies: the service contract a site's tickets are judged by, loaded from YAML.

A policy says, for one site (customer):

* the **level scheme**: 3 or 4 levels (1 most severe), each with a name, a
  response and a resolution term (:mod:`collector.terms`: ``2h``, ``3wd``,
  kept as written) and whether its clock runs ``24x7`` or only in
  ``business`` hours;
* the **business calendar**: working days and hours in a time zone, a
  holiday calendar file with statutory holidays and make-up working days
  (调休: a Saturday that is worked);
* whether the site is a **key customer** (its tickets get priority 1, which
  orders the queue first, and its deadlines are multiplied by
  ``key_factor``, e.g. 0.5 = twice as fast);
* the **mapping rules**: which statuses of which check items open a ticket
  at which level, after how many consecutive bad results (``after``), how
  many consecutive good ones resolve it (``recover_after``), and when an
  item counts as flapping;
* **maintenance windows** (one-off, or recurring as cron + duration) during
  which no ticket opens;
* the **agent-silent** grace (a host whose agent has not reported for longer
  opens a ticket ``agent``/``silent``), the reopen window, whether a breach
  raises the level, and the on-site visit deadline;
* the **inspection records** (``records:``, :class:`RecordsPolicy`): the
  customer's name and systems printed on them, their language, the
  inspector, and when each kind is issued (cron in the site's time zone, or
  ``off``; see ``docs/records.md``);
* the **restore drills** promised (``restore_drills: {every: quarterly}``):
  how often each database's newest backup must be restored in a drill, which
  the records set against the ``restore_drill`` results;
* the **customer follow-up** (回访, ``followup:``, :class:`FollowupPolicy`):
  within which time after resolution, for which tickets, who the account
  manager is, and at which level a low score opens a service complaint.

The file (every key optional; the full format with an example is in
``docs/tickets.md`` and ``deploy/policies.example.yaml``)::

    default: {...a policy...}        # for sites not listed; built-in defaults below it
    sites:
      central-hospital: {...}        # the default policy with these keys replaced

Every fault in the file is reported at once as ``FILE: path.to.key: expected
...`` (:class:`collector.config.ConfigError`, exit code 2).
"""

from collector.policy import model
from collector.policy.defaults import (
    DEFAULT_CALENDAR,
    DEFAULT_LEVELS,
    default_policies,
    default_policy,
    default_rules,
    level_name,
)
from collector.policy.describe import describe_policies
from collector.policy.loader import load_policies
from collector.policy.model import *  # noqa: F403  # the model: the names of model.__all__
from collector.terms import Term

__all__ = ["DEFAULT_CALENDAR", "DEFAULT_LEVELS", "Term", "default_policies", "default_policy", "default_rules",
           "describe_policies", "level_name", "load_policies"]
__all__ += model.__all__
