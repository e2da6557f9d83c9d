"""The sample campaigns shipped with POMS: their names, texts, specs and descriptions
(cloning one is ``campaign_admin.clone_sample``)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from poms_shared.ini.model import CampaignSpec
from poms_shared.ini.parser import parse_ini
from poms_web.adapters.queries import NotFound

SAMPLES = files("poms_shared.demo").joinpath("samples")


def sample_names() -> list[str]:
    return sorted(p.name[: -len(".ini")] for p in SAMPLES.iterdir() if p.name.endswith(".ini"))


def sample_text(name: str) -> str:
    if name not in sample_names():
        raise NotFound(f"no sample campaign {name!r}; samples are {', '.join(sample_names())}")
    return SAMPLES.joinpath(f"{name}.ini").read_text()


def sample_spec(name: str) -> CampaignSpec:
    return parse_ini(sample_text(name))


def sample_item(name: str) -> dict[str, Any]:
    text = sample_text(name)
    spec = parse_ini(text)
    about = [ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("#")]
    return {
        "name": name,
        "description": about[0] if about else "",
        "stages": [s.name for s in spec.stages],
        "login_setups": [t.name for t in spec.login_setups],
        "job_types": [t.name for t in spec.job_types],
    }
