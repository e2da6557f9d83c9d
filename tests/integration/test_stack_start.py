"""The distributed stack the end-to-end tests start: a start that fails leaves nothing
running behind it (orphaned services would consume the next test's messages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from poms_shared.testing.db import DatabaseUnavailable, postgres_database
from poms_shared.testing.rabbit import rabbit_vhost
from poms_shared.testing.stack import SERVICE_NAMES, DistributedStack


def test_a_web_that_never_listens_takes_the_other_services_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        with postgres_database() as db, rabbit_vhost() as amqp:
            stack = DistributedStack(db.url, amqp, tmp_path)
            started = []
            start = stack.start

            def remember(name: str) -> None:
                start(name)
                started.append(stack.procs[name])

            def never_listens(timeout: float = 60) -> None:
                raise TimeoutError(f"web did not listen on {stack.web_port}")

            monkeypatch.setattr(stack, "start", remember)
            monkeypatch.setattr(stack, "wait_for_web", never_listens)
            with pytest.raises(TimeoutError, match="did not listen"):
                stack.start_all()
    except DatabaseUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    assert len(started) == len(SERVICE_NAMES)
    assert stack.procs == {}
    assert all(proc.poll() is not None for proc in started)
