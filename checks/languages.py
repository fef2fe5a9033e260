"""The languages people read (``zh_CN``, ``en``) and the one reading of a language's name.

Three places read a name, each as strictly as its source needs (:func:`language_of`):

* a record's ``language``, a page's ``?lang=`` or cookie: exactly a name we write (``zh_CN``,
  ``zh-CN``, ``zh``, ``zh_Hans``, ``cn``, ``en``, ``en_US``, ``en_GB``; case aside);
* a browser's ``Accept-Language`` tag: any ``zh…`` or ``en…`` (``prefix``);
* a command line's ``WARDROUND_LANG`` or POSIX locale: any ``zh…`` or ``en…``, and ``C``/``POSIX``
  (``prefix`` and ``locale``).

Standard library only, a leaf: the agent, the checks and the collector import it.
"""

from __future__ import annotations

__all__ = ["LANGUAGES", "language_of"]

#: the languages every text exists in
LANGUAGES = ("zh_CN", "en")
_NAMES = {"zh": "zh_CN", "zh_cn": "zh_CN", "zh_hans": "zh_CN", "cn": "zh_CN",
          "en": "en", "en_us": "en", "en_gb": "en"}


def language_of(value: object, *, prefix: bool = False, locale: bool = False) -> str | None:
    """``zh_CN`` or ``en`` for the name ``value``; None for anything naming neither (or not a string).

    Exactly a name of :data:`_NAMES` (``-`` or ``_``, case and spaces aside), unless ``prefix``: any name
    starting ``zh`` or ``en`` (``zh_TW``, ``en-AU``, ``zh_CN.GBK``); ``locale`` also reads the C locale
    (``C``, ``C.UTF-8``, ``POSIX``) as English."""
    if not isinstance(value, str):
        return None
    v = value.strip().replace("-", "_").lower()
    if not prefix:
        return _NAMES.get(v)
    if v.startswith("zh"):
        return "zh_CN"
    if v.startswith("en") or (locale and v.split(".")[0] in ("c", "posix")):
        return "en"
    return None
