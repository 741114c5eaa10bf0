"""Agentless discovery, the pure part: the gather script, parsing its output into facts,
turning facts (and hypervisor domains) into estate rows, and dependency mapping.

Nothing here talks to the network. :mod:`~shangyun.discovery.ports` defines what discovery
is given (a script runner, a hypervisor lister); :mod:`connectors.ssh` and
:mod:`connectors.hypervisor` implement them, and the CLI and :mod:`flows.discovery` plug
them in. :mod:`~shangyun.discovery.engine` drives many hosts,
:mod:`~shangyun.discovery.merging` merges the results into the estate.

Modules, bottom up: ``jump``, ``script``, ``dependencies``, ``domains`` (pure data and rows),
``model`` (targets, options, results), ``ports`` (Protocols), ``rows``, ``merging``,
``hypervisors``, ``engine``.
"""

from shangyun.discovery.script import MARKER, gather_script, parse_output, split_sections

__all__ = ["MARKER", "gather_script", "parse_output", "split_sections"]
