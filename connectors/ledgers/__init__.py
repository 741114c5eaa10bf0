"""Ledgers (台账): Excel/CSV asset ledgers and RVTools exports read into estate rows.

- :mod:`connectors.ledgers.headers` — the header alias table (zh + en) and header lookup.
- :mod:`connectors.ledgers.values` — cleaning of cell values ("16G", "2 TB", 是/否, 三级 …).
- :mod:`connectors.ledgers.read` — reading .xlsx/.csv sheets into an incoming estate.
- :mod:`connectors.ledgers.rvtools` — RVTools exports (vInfo, vDisk, vNetwork).
"""
