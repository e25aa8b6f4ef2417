"""Docker clean-up shared by tests and benchmarks."""

from __future__ import annotations


def remove_node(node: str, network: str = "") -> None:
    """Remove every container and volume the agent of `node` made (any state), and `network` if given."""
    from nodeagent.runtime.docker import remove_node_leftovers

    remove_node_leftovers([node], network)
