"""What an error message may say of Saturn's error answer: Saturn's words about the request, never what was sent.

Saturn's 4xx answers can echo the request: FastAPI's default 422 repeats each invalid value (``input``, and
``ctx``), and a server's own message may quote a command or a whole body. Error messages end up in task logs,
so :func:`error_text` keeps only the useful part and masks what it knows was sent:

- Of FastAPI's ``{"detail": [{"loc", "msg", "type", "input", "ctx", "url"}, ...]}`` only ``loc`` and ``msg``
  are read (``"body.command: Field required"``), at most :data:`MAX_ITEMS` of them; ``input``, ``ctx`` and any
  other key are never read. ``{"message": ...}``, ``{"detail": ...}`` and ``{"error": ...}`` (a text, a list or
  an object) are read the same way. A body that is not a JSON object (plain text, HTML) is not shown at all:
  the HTTP reason stands in for it.
- The texts of the request that the XCom rule calls secret (environment values, commands, start scripts, file
  contents, package texts, URL credentials: :func:`~airflow_provider_saturn.xcom_values.secret_texts`) are
  masked wherever they appear in Saturn's words, from :data:`MIN_SECRET_LENGTH` characters, with each of their
  lines and words of :data:`MIN_SECRET_PIECE` characters or more, also in their JSON-escaped form.
  Credentials in URLs are masked in any case. The rest of what was sent (a name, a size, an image) stays: it
  is no secret, and a message that names it ("a job named nightly-etl exists") is the useful one.
- The client's own secrets (its API token) are masked the same way, whole, wherever they appear: a 403 may
  say ``token <TOKEN> may not ...``.
- Each of Saturn's texts is read up to :data:`MAX_RAW_CHARS` characters; a value cut there is masked too.
  The whole message is bounded by :data:`~.wire.MAX_MESSAGE_LENGTH`.

Shorter values are not masked: they cannot be told apart from ordinary words ("1", "true", "dev").
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from airflow_provider_saturn.client.wire import shorten
from airflow_provider_saturn.xcom_values import REDACTED, secret_texts, without_url_credentials

MAX_ITEMS = 10
"""The most items of a list of errors shown; the others are counted."""
MAX_RAW_CHARS = 4000
"""The most characters of one of Saturn's texts read (before masking)."""
MAX_ITEM_CHARS = 500
"""The most characters of one item, once masked."""
MIN_SECRET_LENGTH = 4
"""A secret text of the request (an environment value, a command...) is masked from this length."""
MIN_SECRET_PIECE = 6
"""A line or word of a secret text is masked from this length."""
MAX_KNOWN_VALUES = 5000
"""The most texts masked (secret ones first, then the longest)."""
MESSAGE_KEYS = ("message", "detail", "error", "errors")
"""Where an error body holds Saturn's words, in the order read."""
ITEM_TEXT_KEYS = ("msg", "message", "detail")
"""Where one item of a list of errors holds its words."""
PIECE_SEPARATORS = re.compile(r"[\s=:'\",;]+")


def error_text(payload: Any, fallback: str, sent: Any = None, secrets: Sequence[str] = ()) -> str:
    """The message of an error answer: Saturn's words (``fallback``, the HTTP reason, when the body holds none),
    without what it echoes of the request ``sent`` (its JSON body, or ``None``) nor the client's own
    ``secrets`` (its API token)."""
    values = known_values(sent, secrets)
    words = _words_of(payload, values) if isinstance(payload, dict) else ""
    return shorten(words or _said(fallback, values))


def masked(text: str, secrets: Sequence[str]) -> str:
    """``text`` (from an answer: a header, a location) without the client's own ``secrets``, read up to
    :data:`MAX_RAW_CHARS` characters."""
    return _said(text, known_values(None, secrets)) if secrets else text


def known_values(sent: Any, secrets: Sequence[str] = ()) -> list[str]:
    """The texts of a request body that an error message must not repeat, and the client's own ``secrets``
    whole (its API token), longest first (see the module)."""
    secret = secret_texts(sent)
    chosen = [text for text in secrets if len(text) >= MIN_SECRET_LENGTH]
    chosen += [text for text in secret if len(text) >= MIN_SECRET_LENGTH]
    for text in secret:
        pieces = [*(line.strip() for line in text.splitlines()), *PIECE_SEPARATORS.split(text)]
        chosen.extend(piece for piece in pieces if len(piece) >= MIN_SECRET_PIECE)
    values: dict[str, None] = {}
    for text in chosen:
        if len(values) >= MAX_KNOWN_VALUES:
            break
        for form in (text, json.dumps(text)[1:-1], repr(text)[1:-1]):
            values.setdefault(form)
    return sorted(values, key=len, reverse=True)


def _words_of(payload: dict[str, Any], values: Sequence[str]) -> str:
    for key in MESSAGE_KEYS:
        said = payload.get(key)
        if said not in (None, "", [], {}):
            return _render(said, values)
    return ""


def _render(said: Any, values: Sequence[str]) -> str:
    if isinstance(said, list):
        shown = "; ".join(text for text in (_item(item, values) for item in said[:MAX_ITEMS]) if text)
        return f"{shown} (and {len(said) - MAX_ITEMS} more)" if len(said) > MAX_ITEMS else shown
    return _item(said, values)


def _item(item: Any, values: Sequence[str]) -> str:
    """One error: a text, or an object's ``loc`` and ``msg`` (nothing else of it: ``input`` and ``ctx`` echo)."""
    if isinstance(item, str):
        return shorten(_said(item, values), MAX_ITEM_CHARS)
    if isinstance(item, bool | int | float):
        return str(item)
    if not isinstance(item, dict):
        return ""
    text = next((item[key] for key in ITEM_TEXT_KEYS if isinstance(item.get(key), str) and item[key]), None)
    if text is None:
        text = item["type"] if isinstance(item.get("type"), str) else "invalid"
    location = item["loc"] if isinstance(item.get("loc"), list) else []
    where = ".".join(str(part) for part in location if isinstance(part, str | int))
    said = f"{where}: {text}" if where else text
    return shorten(_said(said, values), MAX_ITEM_CHARS)


def _said(text: str, values: Sequence[str]) -> str:
    """One of Saturn's texts read up to :data:`MAX_RAW_CHARS`, with the known values and URL credentials masked."""
    cut = len(text) > MAX_RAW_CHARS
    text = text[:MAX_RAW_CHARS]
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    if cut:
        text = _mask_cut_end(text, values)
    return without_url_credentials(text)


def _mask_cut_end(text: str, values: Sequence[str]) -> str:
    """Mask the start of a known value that the cut left at the end of ``text``."""
    for value in values:
        probe = value[:MIN_SECRET_LENGTH]
        position = text.find(probe, max(0, len(text) - len(value) + 1))
        while position != -1:
            if value.startswith(text[position:]):
                text = text[:position] + REDACTED
                break
            position = text.find(probe, position + 1)
    return text
