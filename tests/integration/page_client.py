"""Reading server-rendered pages in tests."""

from __future__ import annotations

from collections.abc import Mapping

from flask.testing import FlaskClient


def get_html(
    client: FlaskClient, path: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> str:
    """The page's HTML, after checking its status and that it is HTML."""
    response = client.get(path, headers=dict(headers or {}))
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)
