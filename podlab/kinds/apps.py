"""apps/v1: ReplicaSet and Deployment, both scalable; Deployments roll out."""

from __future__ import annotations

from podlab import printers
from podlab.kinds import Columns, Kind, register
from podlab.v1 import objects_pb2 as v1

_WORKLOAD_WIDE = ("CONTAINERS", "IMAGES", "SELECTOR")

REPLICA_SETS = register(Kind(
    "ReplicaSet", v1.ReplicaSet, "replicasets", True, ("replicaset", "rs"), "apps/v1",
    columns=Columns(("NAME", "DESIRED", "CURRENT", "READY", "AGE"), _WORKLOAD_WIDE, printers.replica_set_row),
    scalable=True,
    wire={
    'LabelSelector': {'matchLabels': 1, 'matchExpressions': 2},
    'LabelSelectorRequirement': {'key': 1, 'operator': 2, 'values': 3},
    'PodTemplateSpec': {'metadata': 1, 'spec': 2},
    'ReplicaSet': {'metadata': 1, 'spec': 2, 'status': 3},
    'ReplicaSetCondition': {'type': 1, 'status': 2, 'lastTransitionTime': 3, 'reason': 4, 'message': 5},
    'ReplicaSetSpec': {'replicas': 1, 'selector': 2, 'template': 3, 'minReadySeconds': 4},
    'ReplicaSetStatus': {'replicas': 1, 'fullyLabeledReplicas': 2, 'observedGeneration': 3, 'readyReplicas': 4,
        'availableReplicas': 5, 'conditions': 6},
}))

DEPLOYMENTS = register(Kind(
    "Deployment", v1.Deployment, "deployments", True, ("deployment", "deploy"), "apps/v1",
    columns=Columns(("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"), _WORKLOAD_WIDE, printers.deployment_row),
    scalable=True, rollout=True,
    wire={
    'Deployment': {'metadata': 1, 'spec': 2, 'status': 3},
    'DeploymentCondition': {'type': 1, 'status': 2, 'reason': 4, 'message': 5, 'lastUpdateTime': 6,
        'lastTransitionTime': 7},
    'DeploymentSpec': {'replicas': 1, 'selector': 2, 'template': 3, 'strategy': 4, 'minReadySeconds': 5,
        'revisionHistoryLimit': 6, 'paused': 7, 'progressDeadlineSeconds': 9},
    'DeploymentStatus': {'observedGeneration': 1, 'replicas': 2, 'updatedReplicas': 3, 'availableReplicas': 4,
        'unavailableReplicas': 5, 'conditions': 6, 'readyReplicas': 7, 'collisionCount': 8},
    'DeploymentStrategy': {'type': 1, 'rollingUpdate': 2},
    'RollingUpdateDeployment': {'maxUnavailable': 1, 'maxSurge': 2},
}))
