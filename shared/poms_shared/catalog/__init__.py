"""Data-catalog port; adapters live beside it (``local``) and import their own drivers."""

from poms_shared.catalog.port import Catalog, CatalogFile, CatalogReader

__all__ = ["Catalog", "CatalogFile", "CatalogReader"]
