"""SAM web API calls POMS makes (Appendix B), each answering typed values.

Errors raise ``CatalogError`` naming the call, except ``count``, which follows the reference
and answers ``COUNT_UNKNOWN`` (-1) whenever SAM cannot give a number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from poms_shared.catalog import sam_dims as dims_of
from poms_shared.catalog.port import CatalogError, CatalogFile
from poms_shared.catalog.sam_dims import clean_dims
from poms_shared.catalog.sam_http import SamHttp, snippet
from poms_shared.catalog.sam_records import (
    DefinitionInfo,
    ProjectSummary,
    definition_from_json,
    file_from_metadata,
    summary_from_json,
)

log = logging.getLogger(__name__)
COUNT_UNKNOWN = -1  # what ``count`` returns when SAM cannot say (errors, "query limit")
_GET_LIMIT = 1024  # longer dimensions go in a POST body, as samweb clients do
_METADATA_CHUNK = 200


class SamClient:
    """One SAM web server; ``user`` is who new definitions are created for."""

    def __init__(self, http: SamHttp, *, user: str = "sam") -> None:
        self.http = http
        self.user = user

    def count(self, experiment: str, dims: str) -> int:
        """Files matching ``dims``, or ``COUNT_UNKNOWN`` (-1) when SAM cannot say.

        Like the reference, a refused query ("query limit"), an error answer or an
        unreachable SAM give -1 rather than an exception; callers decide what -1 means
        (wrapup treats it as "cannot tell", recovery as "launch anyway").
        """
        try:
            reply = self.http.request(
                "count", "POST", experiment, "files/count", form={"dims": clean_dims(dims)}
            )
        except CatalogError as exc:
            log.warning("SAM count of %r in %s unknown: %s", dims, experiment, exc.reason)
            return COUNT_UNKNOWN
        if "query limit" in reply.text:
            log.warning("SAM count of %r in %s hit the query limit", dims, experiment)
            return COUNT_UNKNOWN
        try:
            return int(reply.text.strip())
        except ValueError:
            log.warning("SAM count of %r answered %r", dims, snippet(reply.text))
            return COUNT_UNKNOWN

    def files(self, experiment: str, names: Sequence[str]) -> list[CatalogFile]:
        """Metadata of the named files, in name order (files SAM does not know are bare).

        Uses the bulk ``POST files/metadata`` (as samweb clients do) rather than one
        ``files/name/<f>/metadata`` request per file.
        """
        found: dict[str, CatalogFile] = {}
        ordered = sorted(set(names))
        for start in range(0, len(ordered), _METADATA_CHUNK):
            chunk = ordered[start : start + _METADATA_CHUNK]
            reply = self.http.request(
                "metadata",
                "POST",
                experiment,
                "files/metadata",
                form={"file_name": chunk, "locations": 1},
            )
            for record in as_json("metadata", reply.text, list):
                if isinstance(record, dict) and record.get("file_name"):
                    found[str(record["file_name"])] = file_from_metadata(record)
        return [found.get(n) or CatalogFile(name=n) for n in ordered]

    def create_definition(
        self, experiment: str, name: str, dims: str, description: str = ""
    ) -> None:
        """Define ``name`` as ``dims``; an existing definition of that name is replaced."""
        form = {"defname": dims_of.name(name), "dims": clean_dims(dims), "user": self.user}
        form["group"] = experiment
        if description:
            form["description"] = description
        for attempt in range(2):
            reply = self.http.request(
                "create_definition",
                "POST",
                experiment,
                "definitions/create",
                form=form,
                accept=(409,),
            )
            if reply.status != 409:
                return
            if attempt == 0:
                log.info("SAM definition %s exists in %s: replacing it", name, experiment)
                self.delete_definition(experiment, name)
        raise CatalogError("create_definition", f"{name} still exists after deleting it", 409)

    def delete_definition(self, experiment: str, name: str) -> bool:
        """Delete a definition; False when there was none."""
        reply = self.http.request(
            "delete_definition",
            "DELETE",
            experiment,
            f"definitions/name/{dims_of.name(name)}",
            accept=(404,),
        )
        return reply.status != 404

    def describe_definition(self, experiment: str, name: str) -> DefinitionInfo | None:
        """The definition's dimensions, or None when SAM has no such definition."""
        reply = self.http.request(
            "describe_definition",
            "GET",
            experiment,
            f"definitions/name/{dims_of.name(name)}",
            params={"format": "json"},
            accept=(404,),
        )
        if reply.status == 404:
            return None
        return definition_from_json(name, as_json("describe_definition", reply.text, dict))

    def project_summary(self, experiment: str, project: str) -> ProjectSummary | None:
        """SAM's per-project totals (§10.4), or None for a project SAM does not know."""
        reply = self.http.request(
            "project_summary",
            "GET",
            experiment,
            f"projects/name/{dims_of.name(project, 'project')}/summary",
            params={"format": "json", "process_limit": 0},
            accept=(404,),
        )
        if reply.status == 404:
            return None
        return summary_from_json(project, as_json("project_summary", reply.text, dict))

    def recovery_dimensions(self, experiment: str, project: str, use_process: bool) -> str:
        """SAM's own dimension for what the project left undone ("" when nothing)."""
        reply = self.http.request(
            "recovery_dimensions",
            "GET",
            experiment,
            f"projects/name/{dims_of.name(project, 'project')}/recovery_dimensions",
            params={"useProcess": int(use_process)},
        )
        text = reply.text.strip()
        return str(json.loads(text)) if text.startswith('"') else text

    def snapshot_definition(self, experiment: str, name: str) -> int:
        """Snapshot a SAM definition; returns SAM's snapshot id."""
        definition = dims_of.name(name.strip())
        reply = self.http.request(
            "snapshot_definition",
            "POST",
            experiment,
            f"definitions/name/{definition}/snapshot",
            form={"group": experiment},
        )
        return as_int("snapshot_definition", reply.text)

    def _names_or_none(self, experiment: str, dims: str) -> list[str] | None:
        """Sorted names, or None when SAM answers 404 (an unknown definition)."""
        return self._list("list_files", experiment, dims, accept=(404,))

    def _list(
        self, call: str, experiment: str, dims: str, accept: tuple[int, ...] = ()
    ) -> list[str] | None:
        text = clean_dims(dims)
        query: dict[str, Any] = {"dims": text, "format": "json"}
        if len(text) <= _GET_LIMIT:
            reply = self.http.request(
                call, "GET", experiment, "files/list", params=query, accept=accept
            )
        else:
            reply = self.http.request(
                call, "POST", experiment, "files/list", form=query, accept=accept
            )
        if reply.status == 404:
            return None
        return sorted(str(n) for n in as_json(call, reply.text, list))

    def list(self, experiment: str, dims: str) -> list[str]:
        """Names of the files matching ``dims``, sorted; errors raise ``CatalogError``."""
        return self._list("list", experiment, dims) or []


def as_int(call: str, text: str) -> int:
    """SAM's plain-text number answer."""
    try:
        return int(text.strip())
    except ValueError:
        raise CatalogError(call, f"SAM answered {snippet(text)!r}, not a number") from None


def as_json(call: str, text: str, kind: type[Any]) -> Any:
    """SAM's JSON answer, checked to be a ``kind`` (list or dict)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise CatalogError(call, f"SAM answered {snippet(text)!r}, not JSON") from None
    if not isinstance(data, kind):
        raise CatalogError(call, f"SAM answered {type(data).__name__}, not {kind.__name__}")
    return data
