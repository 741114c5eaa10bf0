"""Assessment: readiness, right-sizing, consolidation and cost, placement constraints."""

from shangyun.assess.assessment import (
    ASSESSMENT_SCHEMA_VERSION,
    Assessment,
    assess,
    assessment_data_dir,
    read_assessment,
    write_assessment,
)
from shangyun.assess.catalog import Catalog, CatalogError, load_catalog
from shangyun.assess.constraints import CLASSIFIED_REASON, Placement, placement
from shangyun.assess.readiness import CONDITIONAL, NOT_READY, READY, host_readiness
from shangyun.assess.sizing import Sizing, right_size

__all__ = [
    "ASSESSMENT_SCHEMA_VERSION", "CLASSIFIED_REASON", "CONDITIONAL", "NOT_READY", "READY",
    "Assessment", "Catalog", "CatalogError", "Placement", "Sizing", "assess",
    "assessment_data_dir", "host_readiness", "load_catalog", "placement", "read_assessment",
    "right_size", "write_assessment",
]
