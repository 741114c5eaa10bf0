"""The sample estate: a deterministic, realistic generator and the bureaus' ledgers for it.

``generate_estate`` builds the estate (pure, in memory); ``write_ledgers`` writes it out the
way bureaus write their ledgers (each bureau its own style and quirks); ``write_sample`` does
both into one folder, as ``shangyun inventory sample`` does.
"""

from shangyun.sample.generator import SampleParameterError, generate_estate
from shangyun.sample.ledgers import LedgerFile, write_ledgers
from shangyun.sample.writer import SampleResult, is_sample_dir, write_sample

__all__ = [
    "LedgerFile", "SampleParameterError", "SampleResult", "generate_estate", "is_sample_dir",
    "write_ledgers", "write_sample",
]
