"""Pages for people: server-rendered HTML (Jinja2) over the same services as the API.

Small pages with no JavaScript and no external assets (one small CSS file),
for slow hospital networks.  :mod:`collector.web.routes` has the pages,
:mod:`collector.web.sessions` the login sessions and CSRF tokens,
:mod:`collector.web.i18n` the zh-CN and en interface text.
"""
