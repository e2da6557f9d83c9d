"""Campaign .ini files: the campaign description model, its reader and its writer (pure)."""

from poms_shared.ini.model import (
    CampaignSpec,
    DependencySpec,
    JobTypeSpec,
    LoginSetupSpec,
    StageFields,
    StageSpec,
)
from poms_shared.ini.parser import IniError, parse_ini
from poms_shared.ini.writer import write_ini

__all__ = [
    "CampaignSpec",
    "DependencySpec",
    "IniError",
    "JobTypeSpec",
    "LoginSetupSpec",
    "StageFields",
    "StageSpec",
    "parse_ini",
    "write_ini",
]
