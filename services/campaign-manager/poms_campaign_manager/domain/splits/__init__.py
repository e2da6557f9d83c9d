"""Split types: which slice of a stage's dataset the next launch gets (reference §5).

Pure: decisions read the catalog through ``CatalogReader`` and return what to define and
which state to commit with the launch; ``realise`` performs the catalog writes.
"""

from poms_campaign_manager.domain.splits.engine import (
    SPLIT_TYPES,
    decide_launch,
    next_split,
    realise,
    reset_split,
    split_length,
)
from poms_campaign_manager.domain.splits.model import (
    NO_MORE_SPLITS,
    DatasetDefinition,
    SplitContext,
    SplitDecision,
    SplitError,
    SplitSpec,
)
from poms_campaign_manager.domain.splits.position import StageSplitSnapshot, manual_position
from poms_shared.domain.split_syntax import parse_split_type, select_expression

__all__ = [
    "NO_MORE_SPLITS",
    "SPLIT_TYPES",
    "DatasetDefinition",
    "SplitContext",
    "SplitDecision",
    "SplitError",
    "SplitSpec",
    "StageSplitSnapshot",
    "decide_launch",
    "manual_position",
    "next_split",
    "parse_split_type",
    "realise",
    "reset_split",
    "select_expression",
    "split_length",
]
