"""Ledgers (台账): Excel/CSV asset ledgers, RVTools exports and estate exports read into
estate rows. Pure: the files' cells come from a grid reader the caller passes
(:func:`connectors.grid.read_grids`).

- :mod:`~shangyun.ledgers.aliases` — the header alias table (zh + en): add headers here.
- :mod:`~shangyun.ledgers.headers` — header normalisation and lookup.
- :mod:`~shangyun.ledgers.values` — cleaning of cell values ("16G", "2 TB", 是/否, 三级 …).
- :mod:`~shangyun.ledgers.grid` — :class:`Grid` and the :class:`GridReader` port.
- :mod:`~shangyun.ledgers.model` — rows, mappings, what one file gave (:class:`LedgerRead`).
- :mod:`~shangyun.ledgers.mapping` — mapping files (``--mapping``).
- :mod:`~shangyun.ledgers.collector` — stable ids and name resolution, for every format.
- :mod:`~shangyun.ledgers.formats` — the format registry: ``ledger`` (sheets with header
  rows), ``rvtools``, ``export``; add formats here.
- :mod:`~shangyun.ledgers.read` — :func:`read_ledger`: one file → rows.
- :mod:`~shangyun.ledgers.importer` — :func:`import_ledgers`: files → merged, validated,
  saved estate; ledger manifests.
- :mod:`~shangyun.ledgers.export` — :func:`export_xlsx`: the estate as one workbook.
"""
