"""The <form>s of an HTML page, read with the standard library's HTMLParser.

    forms(html)               -> [{"id", "action", "method", "inputs": [{"tag", "name", ...}]}]
    form_by_id(html, "x")     -> the form with id="x" (AssertionError naming the ids there are)
    input_values(form)        -> {name: value} of its <input> fields
    hidden_fields(form)       -> {name: value} of its <input type="hidden"> fields

Used for the identity provider's login and consent pages (lib/oidc_flow.py) and for
Patrol's own pages (lib/web_ui.py, test_web_ui.py).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _Forms(HTMLParser):
    """Every <form>: id, action, method, and its named <input> / <button> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"id": a.get("id", ""), "action": a.get("action", ""),
                               "method": a.get("method", "get").lower(), "inputs": []})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            self.forms[-1]["inputs"].append({"tag": tag, **a})


def forms(html: str) -> list[dict[str, Any]]:
    p = _Forms()
    p.feed(html)
    return p.forms


def form_by_id(html: str, form_id: str) -> dict[str, Any]:
    found = forms(html)
    for f in found:
        if f["id"] == form_id:
            return f
    raise AssertionError(f"no form#{form_id} in page; forms: {[f['id'] for f in found]}\n{html[:3000]}")


def input_values(form: dict[str, Any]) -> dict[str, str]:
    """What submitting the form unchanged sends from its <input>s (buttons left out)."""
    return {i["name"]: i.get("value", "") for i in form["inputs"] if i["tag"] == "input"}


def hidden_fields(form: dict[str, Any]) -> dict[str, str]:
    return {i["name"]: i.get("value", "") for i in form["inputs"] if i["tag"] == "input" and i.get("type") == "hidden"}
