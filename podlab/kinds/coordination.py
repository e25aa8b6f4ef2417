"""coordination.k8s.io/v1: Lease (leader election, and later the nodes' heartbeats)."""

from __future__ import annotations

from podlab.kinds import Columns, Kind, register
from podlab.printers import since
from podlab.v1 import objects_pb2 as v1

LEASES = register(Kind(
    "Lease", v1.Lease, "leases", True, ("lease",), "coordination.k8s.io/v1",
    columns=Columns(("NAME", "HOLDER", "AGE"), (),
                    lambda o, now, wide, pods: [o.metadata.name, o.spec.holder_identity,
                                                since(o.metadata.creation_timestamp, now)]),
    wire={
    'Lease': {'metadata': 1, 'spec': 2},
    'LeaseSpec': {'holderIdentity': 1, 'leaseDurationSeconds': 2, 'acquireTime': 3, 'renewTime': 4,
        'leaseTransitions': 5},
}))
