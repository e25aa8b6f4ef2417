"""Pod volumes under <root-dir>/pods/<uid>/volumes/<name>, living and dying with the UID.

emptyDir (disk: a directory; medium Memory: a runtime tmpfs volume shared by
the pod's containers, sized by sizeLimit, and held mounted by the sandbox), hostPath (with Kubernetes' type
checks), configMap, secret, downwardAPI and projected (keys written as files).

Docker resolves bind sources on the engine's host, so root-dir must be a path
that exists identically there (the lab mounts it at the same path).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nodeagent.env import ContainerConfigError, ObjectGetter, expand, field_value, referenced, resource_value
from nodeagent.podfiles import PodFiles
from nodeagent.runtime.base import LABEL_MANAGED, LABEL_NODE, LABEL_POD_UID, Mount, Runtime
from podlab import errors
from podlab.quantity import to_bytes
from podlab.v1 import objects_pb2 as v1


def sub_path_of(vm: v1.VolumeMount, container: str, env: Mapping[str, str]) -> str:
    """The mount's subPath, or its subPathExpr expanded as the kubelet does: every
    $(VAR) must name a variable with a value, and the result must be a relative path
    without '..'. Raises ContainerConfigError (CreateContainerConfigError)."""
    sub_path = vm.sub_path
    if vm.sub_path_expr:
        missing = sorted(name for name in referenced(vm.sub_path_expr) if not env.get(name))
        if missing:
            raise ContainerConfigError(f'failed to prepare subPath for volumeMount "{vm.name}" of '
                                       f'container "{container}": missing value for {", ".join(missing)}')
        sub_path = expand(vm.sub_path_expr, env)
    if not sub_path:
        return ""
    if sub_path.startswith("/"):
        raise ContainerConfigError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise ContainerConfigError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")
    return sub_path


class VolumeError(Exception):
    """A volume cannot be set up (FailedMount); the pod stays in ContainerCreating."""


@dataclass
class PreparedVolume:
    kind: str  # bind / volume
    source: str  # host path, or runtime volume name
    read_only: bool = False


def _write_file(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not path.is_symlink():
        try:
            if path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == mode:
                return
        except OSError:
            pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class VolumeManager:
    """Sets up and tears down pod volumes on this node."""

    def __init__(self, root_dir: str, runtime: Runtime, getter: ObjectGetter,
                 allocatable: Mapping[str, str]) -> None:
        self.root = Path(root_dir)
        self.runtime = runtime
        self.getter = getter
        self.allocatable = allocatable
        self.files = PodFiles(self.root, runtime)

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    async def setup(self, pod: v1.Pod, pod_ip: str, host_ip: str) -> dict[str, PreparedVolume]:
        """Create every volume of `pod` (idempotent; refreshes projected files).
        Raises VolumeError."""
        out: dict[str, PreparedVolume] = {}
        self.files.write_hosts(pod, pod_ip)
        for vol in pod.spec.volumes:
            try:
                out[vol.name] = await self._setup_one(pod, vol, pod_ip, host_ip)
            except VolumeError:
                raise
            except (OSError, ValueError) as err:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{vol.name}": {err}') from err
        return out

    async def refresh(self, pod: v1.Pod, pod_ip: str, host_ip: str) -> None:
        """Rewrite the files of the pod's configMap, secret, downwardAPI and projected volumes
        from their sources now, as the kubelet does on every sync of a running pod: an
        updated ConfigMap or a relabelled pod shows in the mounted files. Raises VolumeError."""
        for vol in pod.spec.volumes:
            if any(vol.HasField(k) for k in ("config_map", "secret", "downward_api", "projected")):
                try:
                    await self._setup_one(pod, vol, pod_ip, host_ip)
                except (OSError, ValueError) as err:
                    raise VolumeError(f'MountVolume.SetUp failed for volume "{vol.name}": {err}') from err

    async def _setup_one(self, pod: v1.Pod, vol: v1.Volume, pod_ip: str,
                         host_ip: str) -> PreparedVolume:
        uid = pod.metadata.uid
        vdir = self.pod_dir(uid) / "volumes" / vol.name
        if vol.HasField("host_path"):
            return PreparedVolume("bind", self._host_path(vol.host_path))
        if vol.HasField("empty_dir") and vol.empty_dir.medium == "Memory":
            return PreparedVolume("volume", await self._memory_volume(uid, vol))
        vdir.mkdir(parents=True, exist_ok=True)
        if vol.HasField("config_map"):
            cm = vol.config_map
            await self._write_keys(vdir, pod, "ConfigMap", cm.name, list(cm.items),
                                   cm.default_mode if cm.HasField("default_mode") else 0o644,
                                   cm.optional)
            return PreparedVolume("bind", str(vdir), read_only=True)
        if vol.HasField("secret"):
            sec = vol.secret
            await self._write_keys(vdir, pod, "Secret", sec.secret_name, list(sec.items),
                                   sec.default_mode if sec.HasField("default_mode") else 0o644,
                                   sec.optional)
            return PreparedVolume("bind", str(vdir), read_only=True)
        if vol.HasField("downward_api"):
            dmode = vol.downward_api.default_mode if vol.downward_api.HasField("default_mode") else 0o644
            self._write_downward(vdir, pod, list(vol.downward_api.items), dmode, pod_ip, host_ip)
            return PreparedVolume("bind", str(vdir), read_only=True)
        if vol.HasField("projected"):
            pmode = vol.projected.default_mode if vol.projected.HasField("default_mode") else 0o644
            for src in vol.projected.sources:
                if src.HasField("config_map"):
                    await self._write_keys(vdir, pod, "ConfigMap", src.config_map.name,
                                           list(src.config_map.items), pmode, src.config_map.optional)
                elif src.HasField("secret"):
                    await self._write_keys(vdir, pod, "Secret", src.secret.name,
                                           list(src.secret.items), pmode, src.secret.optional)
                elif src.HasField("downward_api"):
                    self._write_downward(vdir, pod, list(src.downward_api.items), pmode, pod_ip,
                                         host_ip)
            return PreparedVolume("bind", str(vdir), read_only=True)
        # emptyDir on disk (also the default for a volume with no source).
        os.chmod(vdir, 0o777)
        return PreparedVolume("bind", str(vdir))

    async def _memory_volume(self, uid: str, vol: v1.Volume) -> str:
        size = to_bytes(vol.empty_dir.size_limit) if vol.empty_dir.size_limit else 0
        name = f"podlab_{self.runtime.node_name}_{uid}_{vol.name}"
        labels = {LABEL_MANAGED: "true", LABEL_NODE: self.runtime.node_name, LABEL_POD_UID: uid}
        return await self.runtime.ensure_memory_volume(name, size, labels)

    async def sandbox_mounts(self, pod: v1.Pod) -> list[Mount]:
        """Mounts for the pod's sandbox: every memory-backed emptyDir. The engine keeps a
        tmpfs volume mounted only while a running container uses it, and drops its
        contents when the last one stops; the pause container lives as long as the pod,
        so a restarted app container finds what the previous one wrote."""
        return [Mount(f"/.podlab/volumes/{vol.name}", await self._memory_volume(pod.metadata.uid, vol),
                      "volume")
                for vol in pod.spec.volumes
                if vol.HasField("empty_dir") and vol.empty_dir.medium == "Memory"]

    @staticmethod
    def _host_path(src: v1.HostPathVolumeSource) -> str:
        path = Path(src.path)
        kind = src.type
        exists = path.exists()
        if kind == "DirectoryOrCreate":
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
        elif kind == "FileOrCreate":
            if not exists:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch(mode=0o644)
        checks = {
            "Directory": (stat.S_ISDIR, "directory"),
            "DirectoryOrCreate": (stat.S_ISDIR, "directory"),
            "File": (stat.S_ISREG, "file"),
            "FileOrCreate": (stat.S_ISREG, "file"),
            "Socket": (stat.S_ISSOCK, "socket"),
            "CharDevice": (stat.S_ISCHR, "character device"),
            "BlockDevice": (stat.S_ISBLK, "block device"),
        }
        if kind in checks:
            test, what = checks[kind]
            if not path.exists():
                raise VolumeError(f"hostPath type check failed: {path} does not exist")
            if not test(path.stat().st_mode):
                raise VolumeError(f"hostPath type check failed: {path} is not a {what}")
        elif kind not in ("",):
            raise VolumeError(f'unsupported hostPath type "{kind}"')
        return str(path)

    async def _write_keys(self, vdir: Path, pod: v1.Pod, kind: str, name: str,
                          items: list[v1.KeyToPath], mode: int, optional: bool) -> None:
        ns = pod.metadata.namespace or "default"
        try:
            obj = await self.getter(kind, ns, name)
        except errors.NotFound:
            obj = None
        if obj is None:
            if optional:
                return
            raise VolumeError(f'{kind.lower()} "{name}" not found')
        data: dict[str, bytes] = {}
        if isinstance(obj, v1.ConfigMap):
            data = {k: v.encode() for k, v in obj.data.items()}
            data.update({k: bytes(v) for k, v in obj.binary_data.items()})
        elif isinstance(obj, v1.Secret):
            data = {k: bytes(v) for k, v in obj.data.items()}
            data.update({k: v.encode() for k, v in obj.string_data.items()})
        if items:
            for item in items:
                if item.key not in data:
                    if optional:
                        continue
                    raise VolumeError(f'configuration key "{item.key}" not found in {kind} {name}')
                _write_file(vdir / item.path, data[item.key],
                            item.mode if item.HasField("mode") else mode)
        else:
            for key, value in data.items():
                _write_file(vdir / key, value, mode)

    def _write_downward(self, vdir: Path, pod: v1.Pod, items: list[v1.DownwardAPIVolumeFile],
                        mode: int, pod_ip: str, host_ip: str) -> None:
        for item in items:
            if item.field_ref.field_path:
                value = field_value(pod, item.field_ref.field_path, pod_ip, host_ip)
            else:
                value = resource_value(pod, "", item.resource_field_ref, self.allocatable)
            _write_file(vdir / item.path, value.encode(), item.mode if item.HasField("mode") else mode)

    def mounts(self, pod: v1.Pod, container: v1.Container, prepared: Mapping[str, PreparedVolume],
               env: Mapping[str, str], attempt: int) -> list[Mount]:
        """Attempt `attempt` of the container's mounts: its volumes (`subPathExpr` expanded
        against its environment `env`), /etc/hosts and its termination-message file.
        Raises VolumeError for an unknown volume or a subPath on a volume that has no
        directory, ContainerConfigError for a subPath the kubelet refuses."""
        out = []
        for vm in container.volume_mounts:
            vol = prepared.get(vm.name)
            if vol is None:
                raise VolumeError(f'volume "{vm.name}" not found')
            source = vol.source
            sub_path = sub_path_of(vm, container.name, env)
            if sub_path:
                if vol.kind != "bind":
                    raise VolumeError(f'subPath "{sub_path}" is not supported here')
                sub = Path(source) / sub_path
                if not sub.exists():
                    sub.mkdir(mode=0o777, parents=True, exist_ok=True)
                source = str(sub)
            out.append(Mount(vm.mount_path, source, vol.kind, vm.read_only or vol.read_only))
        return out + self.files.mounts(pod, container, attempt)

    async def teardown(self, uid: str) -> None:
        """Remove every volume of pod `uid` (the pod's directory and runtime volumes)."""
        await self.runtime.remove_volumes(uid)
        self.files.forget(uid)
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
