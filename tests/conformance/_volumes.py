"""Pods upstream's storage tests build around a ConfigMap, Secret, downward API or projected
volume, and agnhost mounttest."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from tests.conformance._framework import AGNHOST

NON_ROOT_TEST_USER_ID = 1000
DATA = {"data-1": "value-1", "data-2": "value-2", "data-3": "value-3"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def go_mode(mode: int) -> str:
    """Go's os.FileMode(mode).String() for permission bits."""
    return "-" + "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))


def file_mode_regex(path: str, mask: int | None) -> re.Pattern[str]:
    """Upstream's getFileModeRegex (the Linux half)."""
    return re.compile(re.escape(f'mode of file "{path}": {go_mode(0o644 if mask is None else mask)}'))


def mounttest_pod(prefix: str, volume: dict[str, Any], mount_path: str, *args: str,
                  as_user: bool = False) -> dict[str, Any]:
    """Upstream's createConfigMapVolumeMounttestPod (and the Secret/projected twins): an agnhost
    pod (container agnhost-container) running mounttest over one read-only volume."""
    pod: dict[str, Any] = {"metadata": {"name": f"{prefix}-{uuid.uuid4()}"}, "spec": {
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "volumes": [volume],
        "containers": [{"name": "agnhost-container", "image": AGNHOST, "args": ["mounttest", *args],
                        "volumeMounts": [{"name": volume["name"], "mountPath": mount_path, "readOnly": True}]}]}}
    if as_user:
        pod["spec"]["securityContext"] = {"runAsUser": NON_ROOT_TEST_USER_ID}
    return pod
