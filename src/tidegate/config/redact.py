"""Passwords out of every message: a URL's userinfo and ``password=`` pairs become ``***``.

Messages echo values (a URL given where a mapping belongs, a driver's reason quoting its
connection string), and messages end up in terminals, logs and ``.reason.txt`` files. Any
text that may hold a configured value goes through ``hide_passwords`` first.

    >>> hide_passwords("got 'postgresql://loader:s3cret@db:5432/dw'")
    "got 'postgresql://loader:***@db:5432/dw'"
    >>> hide_passwords("host=db password='se cret' dbname=dw")
    'host=db password=*** dbname=dw'
    >>> hide_passwords("DRIVER={x};UID=sa;PWD={p;w}}x};TrustServerCertificate=yes")
    'DRIVER={x};UID=sa;PWD=***;TrustServerCertificate=yes'
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["URL_SCHEME", "hide_passwords", "url_problem"]

URL_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://")

# scheme://user:password@host: the userinfo ends at the last '@' before the host's end
# ('/', '?', '#' or a space), so a password holding an unescaped '@' is hidden whole.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^/?#\s]*@")
# libpq keywords (password='...' or password=word) and ODBC pairs (PWD={...} or PWD=word).
_KEYWORD = re.compile(
    r"\b((?:password|passwd|pwd)\s*=\s*)('(?:[^'\\]|\\.)*'|\{(?:[^}]|\}\})*\}|[^\s;]+)",
    re.IGNORECASE,
)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def hide_passwords(text: str) -> str:
    """``text`` with every password it may quote replaced by ``***``."""
    return _KEYWORD.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def url_problem(url: str) -> str | None:
    """Why a ``scheme://`` URL cannot be decoded, never quoting it; None when it can.

    A URL is percent-encoded: ``%`` starts an escape of two hex digits. libpq refuses any
    other ``%``, and its error quotes the text around it, the password included.

    >>> url_problem("postgresql://u:50%off@db/dw")
    "the password has an invalid %-escape; write a '%' in it as %25"
    >>> url_problem("postgresql://u:50%25off@db/dw") is None
    True
    """
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    pieces = (
        ("password", password),
        ("user name", user),
        ("host", host),
        ("rest of the URL", parts.path + parts.query + parts.fragment),
    )
    for name, text in pieces:
        if _BAD_ESCAPE.search(text):
            return f"the {name} has an invalid %-escape; write a '%' in it as %25"
    return None
