"""Data-catalog port; adapters live beside it (``local``, ``samweb``) with their own drivers.

``make_catalog`` (in ``poms_shared.catalog.factory``) picks the adapter from settings; it is
not imported here so that using the port does not load SQLAlchemy or HTTP code.
"""

from poms_shared.catalog.port import (
    Catalog,
    CatalogError,
    CatalogFile,
    CatalogReader,
    LocatedCounts,
    RecoverySet,
    SubmissionCatalog,
    SubmissionFacts,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogFile",
    "CatalogReader",
    "LocatedCounts",
    "RecoverySet",
    "SubmissionCatalog",
    "SubmissionFacts",
]
