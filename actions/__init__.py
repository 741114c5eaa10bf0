"""The wave's step actions: what each step kind does to the world, checks and undoes.

No Prefect here (the flows wrap these in tasks): :mod:`actions.context` (the run's shared
context), :mod:`actions.images` (precheck, convert, upload, import, launch),
:mod:`actions.data` (copy, delta, verify), :mod:`actions.cutover` (freeze, start, DNS,
health, mark), :mod:`actions.registry` (kind -> action), :mod:`actions.rollback` (the
journal-driven undo) and :mod:`actions.finalize` (closing a wave).
"""
