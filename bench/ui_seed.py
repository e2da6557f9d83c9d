"""A large PostgreSQL history for the page benchmarks, made with set-based SQL in seconds.

On top of the demo samples (experiment ``demo``, user ``poms``, campaign ``demo_mc`` with
stages generate → simulate → reconstruct):

- ``CAMPAIGNS`` more campaigns of three chained stages each (one in six made as analysis,
  one in eight inactive), each with one or two of twelve tags;
- ``SUBMISSIONS`` submissions, one every five minutes over about a year: half on the demo
  campaign (three fifths of those on ``generate``), half spread over the other stages;
  mostly Located, some Failed, Completed, Removed, Cancelled, Launch failed, the newest
  still New, Idle, Running or Held; simulate submissions name their generate parent, one
  in a hundred is a recovery; each with its status history;
- ``JOBS`` jobs, clustered by submission as a batch system creates them, with states,
  exit codes, nodes, sites, CPU and wall seconds, memory used and requested: the newest
  generate submission (``big``, Running) has ``BIG_JOBS`` of them, every other
  submission that reached the batch system about ten;
- two output files per finished submission (located when Located), ``BIG_FILES`` outputs
  and inputs of ``big``, and the parent's outputs as inputs of each demo simulate
  submission.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from poms_shared.db.models import Campaign, CampaignStage, Experimenter
from poms_shared.demo import DEMO_CAMPAIGN, DEMO_EXPERIMENT
from poms_shared.domain.statuses import JobState as J
from poms_shared.domain.statuses import SubmissionStatus as S

CAMPAIGNS = 300
SUBMISSIONS = 100_000
JOBS = 1_000_000
BIG_JOBS = 10_000
BIG_FILES = 2_000
NO_JOBS = (int(S.NEW), int(S.LAUNCH_FAILED), int(S.CANCELLED))


@dataclass(frozen=True)
class Seeded:
    """What the pages are measured on."""

    stage_id: int  # the demo generate stage: the most submissions
    submission_id: int  # ``big``: the most jobs
    submissions: int
    jobs: int


CAMPAIGNS_SQL = """
INSERT INTO campaigns (experiment, name, active, defaults, positions, campaign_keywords,
                       creator_id, creator_role, created, updated)
SELECT :experiment,
       format(CASE WHEN g % 6 = 0 THEN 'user_ana_%s' ELSE 'mc_prod_%s' END, lpad(g::text, 4, '0')),
       g % 8 <> 0, '{}', '{}', '{}', :creator,
       CASE WHEN g % 6 = 0 THEN 'analysis' ELSE 'production' END,
       now() - g * interval '1 day', now() - g * interval '1 day'
FROM generate_series(1, :campaigns) g;

INSERT INTO campaign_stages (campaign_id, experiment, name, job_type_id, login_setup_id,
    vo_role, software_version, dataset, param_overrides, merge_overrides, completion_type,
    completion_pct, campaign_stage_type, output_ancestor_depth, default_clear_cronjob,
    creator_id, creator_role, created, updated)
SELECT c.campaign_id, c.experiment, s.name, d.job_type_id, d.login_setup_id, 'Production',
       'v1_0', format('bench_input_%s', c.campaign_id), '[]', false, 'located', 95, 'regular',
       1, true, c.creator_id, c.creator_role, c.created, c.created
FROM campaigns c
CROSS JOIN (VALUES (1, 'generate'), (2, 'simulate'), (3, 'reconstruct')) s (k, name)
CROSS JOIN (SELECT job_type_id, login_setup_id FROM campaign_stages
            WHERE campaign_stage_id = :generate) d
WHERE c.campaign_id <> :demo
ORDER BY c.campaign_id, s.k;

INSERT INTO campaign_dependencies (upstream_stage_id, downstream_stage_id, file_patterns)
SELECT a.campaign_stage_id, b.campaign_stage_id, '%.root'
FROM campaign_stages a
JOIN campaign_stages b
  ON b.campaign_id = a.campaign_id AND b.campaign_stage_id = a.campaign_stage_id + 1
WHERE a.campaign_id <> :demo;

INSERT INTO tags (experiment, tag_name, creator_id, creator_role)
SELECT :experiment, format('tag%s', t), :creator, 'production' FROM generate_series(0, 11) t;

INSERT INTO campaigns_tags (campaign_id, tag_id)
SELECT DISTINCT c.campaign_id, t.tag_id
FROM campaigns c
JOIN tags t ON t.tag_name IN (format('tag%s', c.campaign_id % 12),
                              format('tag%s', c.campaign_id * 5 % 12))
WHERE c.campaign_id <> :demo;
"""

# Submission g (its id): even ones on the demo stages (3 : 1 : 1), odd ones round the others.
SUBMISSIONS_SQL = f"""
CREATE TEMP TABLE bench_stages ON COMMIT DROP AS
SELECT campaign_stage_id, row_number() OVER (ORDER BY campaign_stage_id) - 1 AS k
FROM campaign_stages WHERE campaign_id <> :demo;

INSERT INTO submissions (submission_id, campaign_stage_id, creator_id, launcher, created,
    updated, status_id, submission_params, command_executed, project, batch_backend,
    batch_id, recovery_parent_id)
SELECT g, stage_id, :creator, 'poms', created,
       CASE WHEN status_id IN {(int(S.NEW), int(S.IDLE), int(S.RUNNING))}
            THEN created ELSE created + interval '3 hours' END,
       status_id,
       json_strip_nulls(json_build_object(
           'dataset', format('bench_ds_%s', g),
           'parent', CASE WHEN stage_id = :simulate THEN g - 2 END,
           'recovery_type', CASE WHEN g % 100 = 60 THEN 'added_files' END)),
       format('poms-local-submit -N 10 -- demo_job --dataset bench_ds_%s', g),
       format('bench_project_%s', g), 'condor',
       CASE WHEN status_id NOT IN {NO_JOBS} THEN format('%s.0@bench', g) END,
       CASE WHEN g % 100 = 60 THEN g - 10 END
FROM (
  SELECT g, now() - (:n - g) * interval '5 minutes' AS created,
         CASE WHEN g % 2 = 0 THEN (ARRAY[:generate, :generate, :generate, :simulate,
                                         :reconstruct])[1 + (g / 2) % 5]
              ELSE bs.campaign_stage_id END AS stage_id,
         CASE WHEN g = :big THEN {S.RUNNING:d}
              WHEN g > :n - 300 THEN (ARRAY{
    [int(s) for s in (S.NEW, S.IDLE, S.RUNNING, S.RUNNING, S.HELD)]
})[1 + g % 5]
              WHEN g % 47 = 7 THEN {S.FAILED:d}
              WHEN g % 47 = 13 THEN {S.LAUNCH_FAILED:d}
              WHEN g % 47 = 21 THEN {S.CANCELLED:d}
              WHEN g % 47 = 33 THEN {S.REMOVED:d}
              WHEN g % 47 IN (41, 43) THEN {S.COMPLETED:d}
              ELSE {S.LOCATED:d} END AS status_id
  FROM generate_series(1, :n) g
  LEFT JOIN bench_stages bs ON g % 2 = 1 AND bs.k = (g / 2) % (SELECT count(*) FROM bench_stages)
) planned
ORDER BY g;

SELECT setval(pg_get_serial_sequence('submissions', 'submission_id'), :n);

INSERT INTO submission_histories (submission_id, status_id, created, reason)
SELECT s.submission_id, h.status_id, s.created + h.k * interval '20 minutes',
       CASE WHEN h.k = 4 AND s.status_id = {S.FAILED:d} THEN 'too many failed jobs'
            WHEN h.k = 4 AND s.status_id = {S.LAUNCH_FAILED:d} THEN 'launch exited 1' END
FROM submissions s
CROSS JOIN LATERAL (VALUES (0, {S.NEW:d}), (1, {S.IDLE:d}), (2, {S.RUNNING:d}),
                           (3, {S.COMPLETED:d}), (4, s.status_id)) h (k, status_id)
WHERE h.k = 0
   OR (h.k IN (1, 2) AND s.status_id >= h.status_id AND s.status_id NOT IN {NO_JOBS})
   OR (h.k = 3 AND s.status_id = {S.LOCATED:d})
   OR (h.k = 4 AND s.status_id NOT IN {(int(S.NEW), int(S.IDLE), int(S.RUNNING))})
ORDER BY s.submission_id, h.k;
"""

# How many jobs each submission gets: ``big`` its own, the rest share what is left.
JOB_PLAN_SQL = f"""
CREATE TEMP TABLE job_plan ON COMMIT DROP AS
WITH eligible AS (
  SELECT submission_id, row_number() OVER (ORDER BY submission_id) - 1 AS k,
         count(*) OVER () AS m
  FROM submissions WHERE status_id NOT IN {NO_JOBS} AND submission_id <> :big)
SELECT submission_id,
       (:rest / m + CASE WHEN k < :rest % m THEN 1 ELSE 0 END)::int AS jobs FROM eligible
UNION ALL SELECT :big, :big_jobs;
"""

JOB_STATE = f"""
CASE s.status_id
  WHEN {S.LOCATED:d} THEN CASE WHEN (s.submission_id * 31 + j) % 20 = 0
                               THEN {J.FAILED:d} ELSE {J.COMPLETED:d} END
  WHEN {S.COMPLETED:d} THEN CASE WHEN (s.submission_id * 31 + j) % 20 = 0
                                 THEN {J.FAILED:d} ELSE {J.COMPLETED:d} END
  WHEN {S.FAILED:d} THEN CASE WHEN (s.submission_id * 31 + j) % 5 < 3
                              THEN {J.FAILED:d} ELSE {J.COMPLETED:d} END
  WHEN {S.REMOVED:d} THEN {J.REMOVED:d}
  WHEN {S.HELD:d} THEN {J.HELD:d}
  ELSE (ARRAY{[int(x) for x in (J.IDLE, J.RUNNING, J.RUNNING, J.COMPLETED, J.FAILED)]})
       [1 + (s.submission_id * 31 + j) % 5]
END"""

JOBS_SQL = f"""
INSERT INTO jobs (job_id, submission_id, backend, batch_job_id, state, last_seq, exit_code,
    node, log_path, started_at, finished_at, updated, site, cpu_seconds, wall_seconds,
    memory_mb, memory_requested_mb)
SELECT id, submission_id, 'condor', format('%s.%s@bench', submission_id, j - 1), state, 3,
       CASE WHEN state = {J.COMPLETED:d} THEN 0 WHEN state = {J.FAILED:d} THEN 1 + id % 255 END,
       CASE WHEN started IS NOT NULL THEN format('wn%s.bench.example', id % 400) END,
       format('/var/log/poms/bench/%s/%s.log', submission_id, j - 1),
       started, finished, coalesce(finished, started, created),
       CASE WHEN started IS NOT NULL
            THEN (ARRAY['FNAL', 'CERN', 'RAL', 'BNL', 'IN2P3', 'NIKHEF'])[1 + id % 6] END,
       extract(epoch FROM finished - started) * (0.5 + (id % 50) / 100.0),
       extract(epoch FROM finished - started),
       CASE WHEN started IS NOT NULL THEN 500 + (id * 37) % 3500 END,
       2000 * (1 + id % 2)
FROM (
  SELECT id, submission_id, j, state, created,
         CASE WHEN state NOT IN ({J.IDLE:d}, {J.HELD:d})
              THEN created + (10 + id % 60) * interval '1 minute' END AS started,
         CASE WHEN state >= {J.COMPLETED:d}
              THEN created + (80 + id % 90) * interval '1 minute' END AS finished
  FROM (
    SELECT row_number() OVER (ORDER BY s.submission_id, j) AS id, s.submission_id, j,
           s.created, {JOB_STATE} AS state
    FROM job_plan p
    JOIN submissions s USING (submission_id)
    CROSS JOIN LATERAL generate_series(1, p.jobs) j
  ) numbered
) timed
ORDER BY id;

SELECT setval(pg_get_serial_sequence('jobs', 'job_id'), (SELECT max(job_id) FROM jobs));
"""

FILES_SQL = f"""
INSERT INTO files (experiment, name, location, size, software_version, metadata, created,
                   producing_submission_id)
SELECT :experiment, format('bench_%s_%s.root', s.submission_id, k),
       CASE WHEN s.status_id = {S.LOCATED:d} OR s.submission_id = :big
            THEN format('/pnfs/bench/%s', s.submission_id) END,
       1000000 + (s.submission_id * 7 + k) % 1000000, 'v1_0', '{{}}', s.updated,
       s.submission_id
FROM submissions s
CROSS JOIN LATERAL generate_series(1, CASE WHEN s.submission_id = :big THEN :big_files
                                          ELSE 2 END) k
WHERE s.status_id IN ({S.LOCATED:d}, {S.COMPLETED:d}, {S.FAILED:d}) OR s.submission_id = :big
ORDER BY s.submission_id, k;

INSERT INTO submission_files (submission_id, file_id, status, job_id, updated)
SELECT s.submission_id, f.file_id, 'consumed', NULL, s.updated
FROM submissions s
JOIN files f ON f.producing_submission_id = (s.submission_params ->> 'parent')::int
WHERE s.campaign_stage_id = :simulate;

INSERT INTO submission_files (submission_id, file_id, status, job_id, updated)
SELECT :big, f.file_id,
       (ARRAY['consumed', 'consumed', 'delivered', 'failed', 'skipped'])[1 + f.file_id % 5],
       (SELECT min(job_id) FROM jobs WHERE submission_id = :big) + f.file_id % :big_jobs,
       now()
FROM files f WHERE f.file_id <= :big_files;
"""


def _demo_ids(session: Session) -> dict[str, int]:
    """The demo campaign's id (``demo``), its stages' ids by name, and its creator's."""
    demo = session.scalars(
        select(Campaign).where(
            Campaign.experiment == DEMO_EXPERIMENT, Campaign.name == DEMO_CAMPAIGN
        )
    ).one()
    stages = session.scalars(
        select(CampaignStage).where(CampaignStage.campaign_id == demo.campaign_id)
    )
    creator = session.scalars(
        select(Experimenter.experimenter_id).where(Experimenter.username == "poms")
    ).one()
    return {
        "demo": demo.campaign_id,
        "creator": creator,
        **{s.name: s.campaign_stage_id for s in stages},
    }


def big_submission(stages: int = 5) -> int:
    """The newest submission on the demo generate stage (see ``SUBMISSIONS_SQL``)."""
    return next(g for g in range(SUBMISSIONS, 0, -1) if g % 2 == 0 and (g // 2) % stages < 3)


def _run(session: Session, label: str, sql: str, params: dict[str, object]) -> None:
    started = time.perf_counter()
    for statement in sql.split(";\n"):
        if statement.strip():
            session.execute(text(statement), params)
    print(f"seeded {label} in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)


def seed(session: Session) -> Seeded:
    """Fill a schema holding the demo samples; the caller commits, vacuums and analyzes."""
    ids = _demo_ids(session)
    big = big_submission()
    params: dict[str, object] = {
        **ids,
        "experiment": DEMO_EXPERIMENT,
        "campaigns": CAMPAIGNS,
        "n": SUBMISSIONS,
        "big": big,
        "big_jobs": BIG_JOBS,
        "big_files": BIG_FILES,
        "rest": JOBS - BIG_JOBS,
    }
    session.execute(text("SET LOCAL synchronous_commit = off"))
    _run(session, "campaigns", CAMPAIGNS_SQL, params)
    _run(session, "submissions", SUBMISSIONS_SQL, params)
    _run(session, "jobs", JOB_PLAN_SQL + JOBS_SQL, params)
    _run(session, "files", FILES_SQL, params)
    jobs = session.scalar(text("SELECT count(*) FROM jobs")) or 0
    return Seeded(ids["generate"], big, SUBMISSIONS, int(jobs))
