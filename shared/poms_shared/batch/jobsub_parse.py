"""Pure parsing of jobsub_lite output: ``jobsub_submit``, ``jobsub_q`` and ``jobsub_history``.

``jobsub_history`` wraps ``condor_history``: it takes ``-G``, ``-name <schedd>`` and passes
condor_history's own options through. Its default table carries neither exit codes nor
nodes, so POMS asks for ``-autoformat`` columns (the one spelling of that option the wrapper
recognises; with ``-af`` it would append its own ``-format`` options). Autoformat prints one
line per job ad, the values in the order asked, separated by one space, strings unquoted,
booleans as ``true``/``false`` and missing attributes as ``undefined``. Only the site names
asked for last could contain a space: a row longer than asked keeps its state, exit code,
node and numbers, and goes without a site. The final observation carries what the job
used (:mod:`jobsub_usage`); jobsub_q's table tells none of it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping

from poms_shared.batch.jobsub_usage import SITE_ATTRIBUTES, USAGE_ATTRIBUTES, ad_usage
from poms_shared.batch.observed import JobKey, Observation
from poms_shared.batch.port import BatchError

# jobsub_q's ST column (condor_q's short status codes)
STATUS_CODES = {
    "I": "idle",
    "R": "running",
    "H": "held",
    "S": "held",
    "C": "completed",
    "X": "removed",
    "<": "running",
    ">": "running",
}
# HTCondor's JobStatus of a job that has left the queue
JOB_STATUS_REMOVED = "3"
JOB_STATUS_COMPLETED = "4"
HISTORY_ATTRIBUTES = (
    "ClusterId",
    "ProcId",
    "JobStatus",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "LastRemoteHost",
    "RemoteHost",
    *USAGE_ATTRIBUTES,
    *SITE_ATTRIBUTES,  # last: see the module docstring
)
_FIXED_COLUMNS = len(HISTORY_ATTRIBUTES) - len(SITE_ATTRIBUTES)
UNDEFINED = "undefined"
UNKNOWN_COUNT = 10_000  # history ads read for a cluster POMS did not record (count unknown)

_JOB_ID_LINE = re.compile(r"Use job id (\S+) to retrieve output")
_JOB_ID = re.compile(r"^(\d+)(?:\.(\d+))?(?:@(\S+))?$")


def parse_submit_output(text: str) -> tuple[int, str]:
    """(cluster, schedd) from jobsub_submit's ``Use job id <id> to retrieve output`` line."""
    match = _JOB_ID_LINE.search(text)
    if match is None:
        raise BatchError(f"jobsub_submit printed no job id: {text.strip()[-500:]}")
    try:
        cluster, _, schedd = parse_job_id(match.group(1))
    except ValueError as exc:
        raise BatchError(f"jobsub_submit printed an unreadable job id: {exc}") from None
    return cluster, schedd


def parse_job_id(ref: str) -> tuple[int, int | None, str]:
    """Split ``C``, ``C@schedd`` or ``C.P@schedd`` into (cluster, proc or None, schedd)."""
    match = _JOB_ID.match(ref.strip())
    if match is None:
        raise ValueError(f"not a jobsub job id: {ref!r}")
    proc = match.group(2)
    return int(match.group(1)), None if proc is None else int(proc), match.group(3) or ""


def job_id(cluster: int, proc: int, schedd: str) -> str:
    """``C.P@schedd`` (``C.P`` when the schedd is not known)."""
    return f"{cluster}.{proc}@{schedd}" if schedd else f"{cluster}.{proc}"


def parse_jobsub_q(text: str) -> dict[JobKey, Observation]:
    """Observations from jobsub_q's table (JOBSUBJOBID OWNER SUBMITTED RUN_TIME ST PRI SIZE CMD).

    The table shows neither exit codes nor execute nodes: those come from jobsub_history.
    """
    seen: dict[JobKey, Observation] = {}
    for line in text.splitlines():
        fields = line.split()
        # rows start with a job id; SUBMITTED is two words (date and time), so ST is 6th
        if len(fields) < 6 or not _JOB_ID.match(fields[0]) or "." not in fields[0]:
            continue
        cluster, proc, _ = parse_job_id(fields[0])
        state = STATUS_CODES.get(fields[5])
        if state is not None and proc is not None:
            seen[(cluster, proc)] = Observation(state)
    return seen


def submission_group(env: Mapping[str, str], configured: str) -> str:
    """The group a submission runs under: ``$JOBSUB_GROUP``, else ``$GROUP``, else ours.

    The order is jobsub_lite's own: it lets ``JOBSUB_GROUP`` override ``GROUP``.
    """
    return env.get("JOBSUB_GROUP", "").strip() or env.get("GROUP", "").strip() or configured


def history_argv(group: str, schedd: str, clusters: Mapping[int, int]) -> list[str]:
    """One ``jobsub_history`` call for every job of ``clusters`` (cluster → job count)."""
    if not clusters:
        raise ValueError("history_argv needs at least one cluster")
    argv = ["jobsub_history"]
    if group:
        argv += ["-G", group]
    if schedd:
        argv += ["-name", schedd]
    wanted = " || ".join(f"ClusterId == {cluster}" for cluster in sorted(clusters))
    # no cluster has more ads in the history than jobs: stop reading once all are found
    limit = sum(clusters.values())
    return [*argv, "-constraint", wanted, "-limit", str(limit), "-autoformat", *HISTORY_ATTRIBUTES]


def history_wanted(
    asked: Iterable[tuple[int, int | None, str]],
    queued: Collection[JobKey],
    counts: Mapping[int, int],
    where: Mapping[int, tuple[str, str]],
) -> dict[tuple[str, str], dict[int, int]]:
    """Clusters to look up in jobsub_history, by (group, schedd), with their job counts.

    ``asked`` holds (cluster, proc or None, schedd); a cluster is looked up when a job asked
    about is not in the queue, and always when POMS did not record it (its jobs are unknown).
    """
    wanted: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for cluster, proc, _ in asked:
        count = counts.get(cluster)
        if proc is not None:
            jobs = [(cluster, proc)]
        else:
            jobs = [] if count is None else [(cluster, p) for p in range(count)]
        if count is None or any(job not in queued for job in jobs):
            wanted[where[cluster]][cluster] = count or UNKNOWN_COUNT
    return dict(wanted)


def parse_history(text: str) -> dict[JobKey, Observation]:
    """Final observations of the jobs in ``jobsub_history -autoformat HISTORY_ATTRIBUTES``.

    Lines that are not such rows (a header, a message) are skipped. Only removed (3) and
    completed (4) ads count; the first ad of a job wins (jobsub_history reads backwards).
    """
    seen: dict[JobKey, Observation] = {}
    for line in text.splitlines():
        ad = history_row(line)
        if ad is None:
            continue
        key = (int(ad["ClusterId"]), int(ad["ProcId"]))
        observation = history_observation(ad)
        if observation is not None and key not in seen:
            seen[key] = observation
    return seen


def history_row(line: str) -> dict[str, str] | None:
    """One autoformat row as attribute → printed value; None if it is not a job's row."""
    fields = line.split()
    if len(fields) < len(HISTORY_ATTRIBUTES):
        return None
    if len(fields) == len(HISTORY_ATTRIBUTES):
        ad = dict(zip(HISTORY_ATTRIBUTES, fields, strict=True))
    else:  # a site name with a space in it: which site column holds what is unknown
        ad = dict(zip(HISTORY_ATTRIBUTES[:_FIXED_COLUMNS], fields, strict=False))
    return ad if ad["ClusterId"].isdecimal() and ad["ProcId"].isdecimal() else None


def history_observation(ad: Mapping[str, str]) -> Observation | None:
    """A history ad's final state, exit code, node and usage; None unless removed or
    completed."""
    node = execute_node(ad.get("LastRemoteHost", "")) or execute_node(ad.get("RemoteHost", ""))
    status = ad.get("JobStatus", "")
    if status == JOB_STATUS_REMOVED:
        return Observation("removed", _int(ad.get("ExitCode", "")), node, ad_usage(ad))
    if status != JOB_STATUS_COMPLETED:
        return None
    if ad.get("ExitBySignal", "").lower() == "true":
        signal_number = _int(ad.get("ExitSignal", ""))
        code = None if signal_number is None else 128 + signal_number
        return Observation("failed", code, node, ad_usage(ad))
    code = _int(ad.get("ExitCode", ""))
    # an ad without ExitCode says nothing against success (as when a job leaves jobsub_q)
    state = "completed" if code in (0, None) else "failed"
    return Observation(state, code, node, ad_usage(ad))


def execute_node(host: str) -> str | None:
    """The machine of an HTCondor slot name: ``slot1_3@fnpc9014.fnal.gov`` → the host."""
    host = host.strip()
    if not host or host == UNDEFINED:
        return None
    return host.rsplit("@", 1)[-1] or None


def _int(value: str) -> int | None:
    value = value.strip()
    if value.lstrip("-").isdecimal() and len(value) <= 18:
        return int(value)
    return None
