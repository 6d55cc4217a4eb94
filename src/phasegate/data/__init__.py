"""Data readiness: the source catalog, profiling, contracts, quality, labels, PII, lineage and gaps."""
