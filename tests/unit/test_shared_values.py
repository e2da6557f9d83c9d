"""Envelope encoding, status vocabulary and file patterns."""

import pytest

from poms_shared.contracts import MalformedMessage, decode, encode, new_envelope
from poms_shared.contracts.messages import LaunchCampaign, SubmissionLocated
from poms_shared.domain.patterns import like, matches_any, split_patterns
from poms_shared.domain.statuses import SubmissionStatus


def test_envelope_round_trips_with_typed_payload_and_routing_key():
    env = new_envelope(LaunchCampaign(campaign_id=3, launcher="alice"))
    back = decode(encode(env))
    assert back == env
    assert back.routing_key == "command.LaunchCampaign"


def test_caused_messages_inherit_the_correlation_id():
    cause = new_envelope(LaunchCampaign(campaign_id=3, launcher="alice"))
    effect = new_envelope(
        SubmissionLocated(submission_id=1, stage_id=2, campaign_id=3), causation=cause
    )
    assert effect.correlation_id == cause.correlation_id
    assert effect.causation_id == cause.message_id


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"type": "Nope", "payload": {}}', "unknown message type"),
        (
            b'{"type": "LaunchCampaign", "correlation_id": "c", "payload": {"launcher": "x"}}',
            "campaign_id",
        ),
        (
            b'{"type": "LaunchCampaign", "correlation_id": "c", '
            b'"payload": {"campaign_id": 1, "launcher": "x", "extra": 1}}',
            "extra",
        ),
    ],
)
def test_malformed_bodies_are_rejected_with_a_reason(body, reason):
    with pytest.raises(MalformedMessage, match=reason):
        decode(body)


def test_statuses_keep_the_original_ordered_ids():
    assert [s.value for s in SubmissionStatus] == sorted(s.value for s in SubmissionStatus)
    assert SubmissionStatus.COMPLETED == 7000 and SubmissionStatus.LOCATED == 8000
    assert SubmissionStatus.from_label("awaiting approval") is SubmissionStatus.AWAITING_APPROVAL
    with pytest.raises(ValueError):
        SubmissionStatus.from_label("Bogus")


@pytest.mark.parametrize(
    ("name", "pattern", "matches"),
    [
        ("gen_1.root", "gen_%.root", True),
        ("gen_1.root", "sim_%.root", False),
        ("a.root", "_.root", True),
        ("ab.root", "_.root", False),
        ("x[1].root", "x[%", True),
    ],
)
def test_like_patterns(name, pattern, matches):
    assert like(name, pattern) is matches


def test_pattern_lists_split_on_commas_and_default_to_everything():
    assert split_patterns(" a%, ,b% ") == ("a%", "b%")
    assert split_patterns("") == ("%",)
    assert matches_any("x.txt", "data_tier 'reco'")  # a catalog fragment, not a name pattern
