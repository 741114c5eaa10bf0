"""Agentless discovery, the pure part: the gather script, parsing its output into facts,
turning facts into estate rows, and dependency mapping.

Nothing here talks to the network: :mod:`connectors.ssh` runs the script,
:mod:`shangyun.discovery.engine` drives many hosts, :mod:`flows.discovery` wraps it in Prefect.
"""

from shangyun.discovery.script import MARKER, gather_script, parse_output, split_sections

__all__ = ["MARKER", "gather_script", "parse_output", "split_sections"]
