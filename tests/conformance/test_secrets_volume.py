"""test/e2e/common/storage/secrets_volume.go: "[sig-storage] Secrets" (volumes)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conformance._framework import Framework, upstream
from tests.conformance._volumes import DATA, b64, file_mode_regex, mounttest_pod

pytestmark = pytest.mark.conformance

MOUNT = "/etc/secret-volume"


async def secret_test(f: Framework, default_mode: int | None = None, as_user: bool = False) -> None:
    """Upstream's doSecretE2EWithoutMapping."""
    name = f"secret-test-{uuid.uuid4()}"
    await f.create("Secret", {"metadata": {"name": name}, "data": {k: b64(v + "\n") for k, v in DATA.items()}})
    source: dict[str, Any] = {"secretName": name}
    if default_mode is not None:
        source["defaultMode"] = default_mode
    await f.test_container_output(mounttest_pod(
        "pod-secrets", {"name": "secret-volume", "secret": source}, MOUNT,
        f"--file_content={MOUNT}/data-1", f"--file_mode={MOUNT}/data-1", as_user=as_user), 0,
        [f'content of file "{MOUNT}/data-1": value-1', file_mode_regex(f"{MOUNT}/data-1", default_mode)])


async def secret_mapping_test(f: Framework, item_mode: int | None = None) -> None:
    """Upstream's doSecretE2EWithMapping."""
    name = f"secret-test-map-{uuid.uuid4()}"
    await f.create("Secret", {"metadata": {"name": name}, "data": {k: b64(v + "\n") for k, v in DATA.items()}})
    item: dict[str, Any] = {"key": "data-1", "path": "new-path-data-1"}
    if item_mode is not None:
        item["mode"] = item_mode
    path = f"{MOUNT}/new-path-data-1"
    await f.test_container_output(mounttest_pod(
        "pod-secrets", {"name": "secret-volume", "secret": {"secretName": name, "items": [item]}}, MOUNT,
        f"--file_content={path}", f"--file_mode={path}"), 0,
        [f'content of file "{path}": value-1', file_mode_regex(path, item_mode)])


@upstream("storage/secrets_volume.go", "should be consumable from pods in volume [NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume(f: Framework) -> None:
    """secrets_volume.go: "should be consumable from pods in volume [NodeConformance]"."""
    await secret_test(f)


@upstream("storage/secrets_volume.go", "should be consumable from pods in volume with defaultMode set "
          "[LinuxOnly] [NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume_with_default_mode_set(f: Framework) -> None:
    """secrets_volume.go: "should be consumable from pods in volume with defaultMode set [LinuxOnly]"."""
    await secret_test(f, default_mode=0o400)


@upstream("storage/secrets_volume.go", "should be consumable from pods in volume with mappings "
          "[NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume_with_mappings(f: Framework) -> None:
    """secrets_volume.go: "should be consumable from pods in volume with mappings [NodeConformance]"."""
    await secret_mapping_test(f)


@upstream("storage/secrets_volume.go", "should be consumable from pods in volume with mappings and Item Mode "
          "set [LinuxOnly] [NodeConformance] [Conformance]")
async def test_should_be_consumable_from_pods_in_volume_with_mappings_and_item_mode_set(f: Framework) -> None:
    """secrets_volume.go: "should be consumable from pods in volume with mappings and Item Mode set
    [LinuxOnly]"."""
    await secret_mapping_test(f, item_mode=0o400)
