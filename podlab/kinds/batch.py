"""batch/v1: Jobs run pods to completion."""

from __future__ import annotations

from podlab import printers
from podlab.kinds import Columns, Kind, register
from podlab.v1 import objects_pb2 as v1

JOBS = register(Kind(
    "Job", v1.Job, "jobs", True, ("job",), "batch/v1", categories=("all",),
    columns=Columns(("NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"),
                    printers.job_row),
    wire={
    'Job': {'metadata': 1, 'spec': 2, 'status': 3},
    'JobCondition': {'type': 1, 'status': 2, 'lastProbeTime': 3, 'lastTransitionTime': 4, 'reason': 5,
        'message': 6},
    'JobSpec': {'parallelism': 1, 'completions': 2, 'activeDeadlineSeconds': 3, 'selector': 4,
        'manualSelector': 5, 'template': 6, 'backoffLimit': 7, 'ttlSecondsAfterFinished': 8,
        'completionMode': 9, 'suspend': 10},
    'JobStatus': {'conditions': 1, 'startTime': 2, 'completionTime': 3, 'active': 4, 'succeeded': 5,
        'failed': 6, 'completedIndexes': 7, 'ready': 9},
}))
