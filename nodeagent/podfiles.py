"""Files the kubelet makes for a pod's containers, besides its volumes.

- `/etc/hosts`, written as the kubelet's managedHostsFileContent writes it:
  a header, localhost, the pod's own address, then the hostAliases, one line
  per IP (`123.45.67.89\tfoo\tbar`). Not for host-network pods, which see the
  node's file (as with the kubelet, whose e2e test checks for the header).
- The termination-message file: one per container attempt, mounted at
  `terminationMessagePath`; after the container exits, its contents (at most
  4096 bytes, the tail) are `state.terminated.message`, and with
  `terminationMessagePolicy: FallbackToLogsOnError` a failed container with an
  empty file gets the tail of its log (80 lines, 2048 bytes) instead.

Everything lives under the pod's directory, so it dies with the pod UID.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from nodeagent.runtime.base import EXITED, ContainerInfo, Mount, Runtime
from podlab.v1 import objects_pb2 as v1

MANAGED_HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
CLUSTER_DOMAIN = "cluster.local"
MAX_MESSAGE_BYTES = 4096  # kubecontainer.MaxContainerTerminationMessageLength
MAX_LOG_MESSAGE_BYTES = 2048  # ...MaxContainerTerminationMessageLogLength
MAX_LOG_MESSAGE_LINES = 80  # ...MaxContainerTerminationMessageLogLines


def hosts_file_content(pod: v1.Pod, pod_ip: str) -> str:
    """The pod's /etc/hosts, byte for byte what the kubelet writes."""
    lines = [MANAGED_HOSTS_HEADER,
             "127.0.0.1\tlocalhost\n",
             "::1\tlocalhost ip6-localhost ip6-loopback\n",
             "fe00::0\tip6-localnet\n",
             "fe00::0\tip6-mcastprefix\n",
             "fe00::1\tip6-allnodes\n",
             "fe00::2\tip6-allrouters\n"]
    hostname = pod.spec.hostname or pod.metadata.name
    if pod_ip:
        if pod.spec.subdomain:
            domain = f"{pod.spec.subdomain}.{pod.metadata.namespace or 'default'}.svc.{CLUSTER_DOMAIN}"
            lines.append(f"{pod_ip}\t{hostname}.{domain}\t{hostname}\n")
        else:
            lines.append(f"{pod_ip}\t{hostname}\n")
    if pod.spec.host_aliases:
        lines.append("\n# Entries added by HostAliases.\n")
        lines.extend(f"{a.ip}\t{chr(9).join(a.hostnames)}\n" for a in pod.spec.host_aliases)
    return "".join(lines)


class PodFiles:
    """The per-container files of the pods under `root/pods/<uid>`."""

    def __init__(self, root: Path, runtime: Runtime) -> None:
        self.root = root
        self.runtime = runtime
        # pod uid -> container id -> its termination message (an exited container's
        # file and log no longer change, so each is read once)
        self._messages: dict[str, dict[str, str]] = {}

    def _hosts(self, uid: str) -> Path:
        return self.root / "pods" / uid / "etc-hosts"

    def _message_file(self, uid: str, container: str, attempt: int) -> Path:
        return self.root / "pods" / uid / "containers" / container / str(attempt)

    def write_hosts(self, pod: v1.Pod, pod_ip: str) -> None:
        """(Re)write the pod's /etc/hosts; nothing for a host-network pod."""
        if pod.spec.host_network:
            return
        path = self._hosts(pod.metadata.uid)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = hosts_file_content(pod, pod_ip)
        with contextlib.suppress(OSError):
            if path.read_text() == data:
                return
        tmp = path.with_name(".etc-hosts.tmp")
        tmp.write_text(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def mounts(self, pod: v1.Pod, c: v1.Container, attempt: int) -> list[Mount]:
        """The container's /etc/hosts and termination-message mounts (files made here).
        A container that mounts a volume at either path keeps its own."""
        own = {vm.mount_path.rstrip("/") for vm in c.volume_mounts}
        out = []
        hosts = self._hosts(pod.metadata.uid)
        if not pod.spec.host_network and hosts.exists() and "/etc/hosts" not in own:
            out.append(Mount("/etc/hosts", str(hosts)))
        path = c.termination_message_path
        if path and path.rstrip("/") not in own:
            f = self._message_file(pod.metadata.uid, c.name, attempt)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.touch()
            os.chmod(f, 0o666)  # any user the container runs as may write it
            out.append(Mount(path, str(f)))
        return out

    async def termination_messages(self, pod: v1.Pod,
                                   containers: list[ContainerInfo]) -> dict[str, str]:
        """Container id -> termination message, for every exited container that has one."""
        uid = pod.metadata.uid
        specs = {c.name: c for c in list(pod.spec.init_containers) + list(pod.spec.containers)}
        cache = self._messages.setdefault(uid, {})
        for info in containers:
            spec = specs.get(info.container_name)
            if info.state != EXITED or spec is None or info.id in cache:
                continue
            cache[info.id] = await self._message(spec, info)
        live = {info.id for info in containers}
        for cid in [cid for cid in cache if cid not in live]:
            del cache[cid]
        return {cid: msg for cid, msg in cache.items() if msg}

    async def _message(self, c: v1.Container, info: ContainerInfo) -> str:
        fallback = c.termination_message_policy == "FallbackToLogsOnError" and info.exit_code != 0
        data = b""
        if c.termination_message_path:
            path = self._message_file(info.pod_uid, c.name, info.attempt)
            try:
                with path.open("rb") as f:
                    f.seek(max(0, path.stat().st_size - MAX_MESSAGE_BYTES))
                    data = f.read(MAX_MESSAGE_BYTES)
            except FileNotFoundError:
                pass
            except OSError as err:
                return f"Error on reading termination log {path}: {err}"
        if data or not fallback:
            return data.decode(errors="replace")
        try:
            chunks = [chunk async for chunk in self.runtime.logs(info.id, False, MAX_LOG_MESSAGE_LINES,
                                                                 False, None)]
        except Exception as err:  # noqa: BLE001 - the status goes on without a message
            return f"Error on reading termination message from logs: {err}"
        return b"".join(chunks)[-MAX_LOG_MESSAGE_BYTES:].decode(errors="replace")

    def forget(self, uid: str) -> None:
        self._messages.pop(uid, None)
