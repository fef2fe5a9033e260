"""Wardround's check library: measure one thing, judge it, return results.

Pure of transport: nothing here knows about HTTP, spools or collectors.

What a module (or package) here is, by its name:

* one of :data:`FRAMEWORK` — the wire model (``result``), the parameter reader (``params``),
  a running check's surroundings (``context``), the catalogue (``catalogue``), the
  validator of check entries (``entries``), what checks say in every language
  (``messages``: message keys and their zh_CN/en catalogues) and the one reading of a
  language's name (``languages``), which the agent and the collector import;
* a helper when its name starts with ``_`` (``_units``, ``_cron``, ``_odbc``, ...);
* otherwise a check: its name is the catalogue key, the config's ``check:`` value and the
  metric prefix (``tests/checks/test_catalogue.py`` holds this).
"""

FRAMEWORK = ("catalogue", "context", "entries", "languages", "messages", "params", "result")
