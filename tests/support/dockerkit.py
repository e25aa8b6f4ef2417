"""Docker clean-up shared by tests and benchmarks."""

from __future__ import annotations


def remove_node(node: str, network: str = "") -> None:
    """Remove every container the agent of `node` made (any state), and `network` if given."""
    import docker

    client = docker.from_env(timeout=120)
    try:
        for c in client.containers.list(all=True, sparse=True, filters={"label": f"io.podlab.node={node}"}):
            c.remove(force=True)
        if network:
            for net in client.networks.list(names=[network]):
                net.remove()
    finally:
        client.close()
