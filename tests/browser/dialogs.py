"""Answering the pages' confirmations in browser tests."""

from __future__ import annotations

from typing import Any


def accept_dialogs(page: Any) -> list[str]:
    """Accept every confirmation; the messages asked, in order."""
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return asked
