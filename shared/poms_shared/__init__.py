"""Code shared by the POMS services: contracts, bus, database, catalog and batch adapters."""
