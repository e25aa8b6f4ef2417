"""The Docker runtime: pods as a pause container plus app containers joined to it.

The docker SDK (7.x) is synchronous. Every call to it goes through ONE bridge,
`DockerRuntime._bridge` (a dedicated thread pool, so a `docker stop` waiting
out a grace period never starves other pods), and Docker's event stream is
turned into an asyncio queue by ONE thread, `_event_pump`.

Images and the offline mirror
-----------------------------
The pull policy is the agent's (nodeagent.images); this runtime only says
whether an image is present and pulls one. A pull first consults the mirror
(`--mirror FILE`, a YAML map of upstream name -> local image, e.g.
`nginx: nginx:latest` or `nginx:1.25: podlab/nginx`): a mirrored image is
pulled by tagging the local mirror image as the requested name, with no
network at all. An image that is not mirrored is pulled from its registry with
`docker pull`. A failed pull raises ImagePullError(ErrImagePull).

Exec
----
Exec probes and hooks (`exec`) enter the container with podlab-nsexec when the
agent can (root, in the host's pid namespace; see nodeagent.runtime.nsexec):
~3 ms of CPU instead of the engine's ~70. Interactive `podctl exec`
(`open_exec`, an ExecSession in nodeagent.runtime.docker_exec) and every case
the helper cannot take go through the engine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import docker.types
import yaml

from nodeagent.runtime.base import (
    CONNECTED,
    CREATED,
    EXITED,
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_TYPE,
    RUNNING,
    TYPE_SANDBOX,
    ContainerInfo,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerUsage,
    ExecResult,
    ExecSession,
    ImagePullError,
    Mount,
    Runtime,
    RuntimeEvent,
    SandboxInfo,
    SandboxSpec,
)
from nodeagent.runtime.docker_exec import DockerAttachSession, DockerExecSession
from nodeagent.runtime.nsexec import HELPER, NsExecUnavailable, Target, find_helper, nsexec, target_of

log = logging.getLogger("podlab.nodeagent.docker")
T = TypeVar("T")


def normalize_image(ref: str) -> str:
    """Docker Hub short form with an explicit tag: docker.io/library/nginx -> nginx:latest."""
    name = ref.strip()
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if "@" in name:
        return name
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        name += ":latest"
    return name


def load_mirror(path: str | None) -> dict[str, str]:
    """The mirror map from a YAML file (upstream -> local), names normalised.
    Accepts a plain map or one under `images:` (compose/images/mirror.yaml's format)."""
    if not path:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    if isinstance(data, dict):
        for section in ("images", "mirror"):
            if isinstance(data.get(section), dict):
                data = data[section]
                break
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the mirror must be a map of upstream image -> local image")
    return {normalize_image(str(k)): normalize_image(str(v)) for k, v in data.items()}


def _epoch(ts: str | None) -> float:
    if not ts or ts.startswith("0001-"):
        return 0.0
    ts = ts.rstrip("Z")
    if "." in ts:
        head, frac = ts.split(".", 1)
        ts = f"{head}.{frac[:6]}"
    try:
        return datetime.fromisoformat(ts + "+00:00").timestamp()
    except ValueError:
        return 0.0


def _state(attrs: dict[str, Any]) -> str:
    status = attrs.get("State", {}).get("Status", "")
    if status in ("running", "paused", "restarting"):
        return RUNNING
    if status == "created":
        return CREATED
    return EXITED


def remove_node_leftovers(nodes: list[str], network: str = "") -> int:
    """Remove every container and volume the agents of `nodes` made (any state), and
    `network` when nothing else uses it: what a cluster's `down` leaves behind. The
    number of containers removed."""
    client = docker.from_env(timeout=120)
    removed = 0
    try:
        for node in nodes:
            selector = {"label": [f"{LABEL_MANAGED}=true", f"{LABEL_NODE}={node}"]}
            for c in client.containers.list(all=True, sparse=True, filters=selector):
                try:
                    c.remove(force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as err:
                    if err.status_code != 409:  # 409: its removal is already in progress
                        raise
            for v in client.volumes.list(filters=selector):
                with contextlib.suppress(docker.errors.NotFound):
                    v.remove(force=True)
        for net in client.networks.list(names=[network]) if network else []:
            with contextlib.suppress(docker.errors.APIError):  # still in use by others
                net.remove()
    finally:
        client.close()
    return removed


def _memory_working_set(stats: dict[str, Any]) -> int:
    """Usage less inactive file pages (cgroup v1 and v2 names), from the engine's stats."""
    mem = stats.get("memory_stats") or {}
    usage = int(mem.get("usage", 0) or 0)
    detail = mem.get("stats") or {}
    inactive = int(detail.get("total_inactive_file", detail.get("inactive_file", 0)) or 0)
    return max(0, usage - inactive)


class DockerRuntime(Runtime):
    """Pods on a Docker engine. Owns only containers labelled with `node_name`."""

    def __init__(self, node_name: str, pod_network: str = "podlab-pods",
                 pause_image: str = "podlab/pause:3.9", mirror: dict[str, str] | None = None,
                 node_netns_container: str = "", base_url: str | None = None,
                 workers: int = 32, exec_helper: str = "auto") -> None:
        self.node_name = node_name
        self.pod_network = pod_network
        self.pause_image = pause_image
        self.mirror = mirror or {}
        self.node_netns_container = node_netns_container
        kwargs: dict[str, Any] = {"max_pool_size": workers, "timeout": 120}
        self._client = (docker.DockerClient(base_url=base_url, **kwargs) if base_url
                        else docker.from_env(**kwargs))
        self._api = self._client.api
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="docker-bridge")
        self._network_id = ""
        self._network_lock = threading.Lock()
        # container id -> (its last inspect, the event count it was taken at)
        self._inspected: dict[str, tuple[dict[str, Any], int]] = {}
        self._events_seen: dict[str, int] = {}  # container id -> its engine events so far
        # Exec without the engine (nodeagent.runtime.nsexec): the helper, and how to
        # enter each running container (None: through the engine), by container id.
        self._helper = find_helper(exec_helper)
        self._targets: dict[str, Target | None] = {}
        if self._helper:
            log.info("exec probes and hooks enter containers with %s (the engine when they cannot)",
                     self._helper, extra={"node": node_name})
        else:
            log.info("exec probes and hooks go through the engine (%s not found)", HELPER,
                     extra={"node": node_name})
        self._pulls: dict[str, asyncio.Future[None]] = {}
        self._event_stream: Any = None
        self._closed = False

    # -- the bridge -------------------------------------------------------------------

    async def _bridge(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking docker SDK call on the bridge pool; APIError -> ContainerRuntimeError."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))
        except docker.errors.DockerException as err:
            raise ContainerRuntimeError(str(err)) from err

    # -- images -----------------------------------------------------------------------

    def _image_id(self, name: str) -> str | None:
        try:
            return str(self._api.inspect_image(name)["Id"])
        except docker.errors.ImageNotFound:
            return None

    def _image_present(self, name: str) -> bool:
        return self._image_id(name) is not None

    def _pull(self, name: str) -> None:
        local = self.mirror.get(name)
        if local is not None:
            local_id = self._image_id(local)
            if local_id is None:
                raise ImagePullError("ErrImagePull", f'mirror image "{local}" is not present locally')
            if self._image_id(name) != local_id:  # a pull from the mirror is a re-tag
                repo, _, tag = name.rpartition(":")
                self._api.tag(local, repo, tag)
            return
        try:
            repo, _, tag = name.rpartition(":")
            self._api.pull(repo, tag=tag)
        except docker.errors.DockerException as err:
            raise ImagePullError("ErrImagePull", str(err)) from err

    def _image_user(self, name: str) -> str:
        try:
            return str((self._api.inspect_image(name).get("Config") or {}).get("User") or "")
        except docker.errors.ImageNotFound:
            return ""

    async def image_user(self, image: str) -> str:
        return await self._bridge(self._image_user, normalize_image(image))

    async def image_present(self, image: str) -> bool:
        return await self._bridge(self._image_present, normalize_image(image))

    async def pull_image(self, image: str) -> None:
        name = normalize_image(image)
        # One pull per image at a time; concurrent starters share it.
        pending = self._pulls.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._bridge(self._pull, name))
            self._pulls[name] = pending
            pending.add_done_callback(lambda _f: self._pulls.pop(name, None))
        await asyncio.shield(pending)

    # -- network ------------------------------------------------------------------------

    def _ensure_network(self) -> str:
        """The pod network's id, creating the network once. Docker allows duplicate
        names, so creation is serialised here and, should another agent race us,
        the oldest network of that name wins and the others are removed."""
        with self._network_lock:
            if self._network_id:
                return self._network_id
            found = self._api.networks(names=[self.pod_network])
            if not [n for n in found if n.get("Name") == self.pod_network]:
                self._api.create_network(self.pod_network, driver="bridge", check_duplicate=True,
                                         labels={LABEL_MANAGED: "true"})
                found = self._api.networks(names=[self.pod_network])
            same = sorted((n for n in found if n.get("Name") == self.pod_network),
                          key=lambda n: (n.get("Created", ""), n["Id"]))
            for extra in same[1:]:
                with contextlib.suppress(docker.errors.DockerException):
                    self._api.remove_network(extra["Id"])
            self._network_id = str(same[0]["Id"])
            return self._network_id

    def pod_network_gateway(self) -> str:
        """The host's address on the pod network (its bridge's gateway), making the network if need be:
        where pods reach a server on the host."""
        info = self._api.inspect_network(self._ensure_network())
        return next((c["Gateway"] for c in (info.get("IPAM") or {}).get("Config") or [] if c.get("Gateway")), "")

    def _host_network_mode(self) -> str:
        if self.node_netns_container:
            return f"container:{self.node_netns_container}"
        return "host"

    # -- sandboxes ----------------------------------------------------------------------

    def _name(self, namespace: str, pod: str, container: str, attempt: int, uid: str) -> str:
        return f"podlab_{self.node_name}_{namespace}_{pod}_{container}_{attempt}_{uid[:8]}"

    def _run_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        kwargs: dict[str, Any] = {}
        if spec.host_network:
            kwargs["network_mode"] = self._host_network_mode()
        else:
            kwargs["network"] = self._ensure_network()
            kwargs["hostname"] = spec.hostname[:63]
            if spec.ports:
                ports: dict[str, Any] = {}
                for p in spec.ports:
                    key = f"{p.container_port}/{p.protocol.lower() or 'tcp'}"
                    binding = (p.host_ip, p.host_port) if p.host_ip else p.host_port
                    ports.setdefault(key, []).append(binding)
                kwargs["ports"] = ports
            if spec.dns:
                kwargs["dns"] = spec.dns
        if spec.mounts:
            kwargs["mounts"] = self._mounts(spec.mounts)
        name = self._name(spec.namespace, spec.pod_name, "POD", spec.attempt, spec.pod_uid)
        container = self._create_named(name, lambda: self._client.containers.create(
            self.pause_image, name=name, labels=spec.labels, detach=True, ipc_mode="shareable",
            init=False, **kwargs))
        try:
            container.start()
        except docker.errors.DockerException:
            container.remove(force=True)
            raise
        container.reload()
        return self._sandbox_info(container.attrs)

    def _create_named(self, name: str, create: Callable[[], T]) -> T:
        """Create the container called `name`. A leftover of that name (an attempt cut
        short by an agent restart) is removed and creation retried once; the common
        case costs no extra round trip."""
        try:
            return create()
        except docker.errors.APIError as err:
            if err.status_code != 409:
                raise
        with contextlib.suppress(docker.errors.NotFound):
            self._api.remove_container(name, force=True)
        return create()

    def _sandbox_info(self, attrs: dict[str, Any]) -> SandboxInfo:
        labels = attrs.get("Config", {}).get("Labels") or {}
        networks = attrs.get("NetworkSettings", {}).get("Networks") or {}
        ip = (networks.get(self.pod_network) or {}).get("IPAddress", "")
        if not ip:
            ip = next((n.get("IPAddress", "") for n in networks.values()
                       if n.get("NetworkID") == self._network_id and n.get("IPAddress")), "")
        return SandboxInfo(
            id=attrs["Id"], pod_uid=labels.get(LABEL_POD_UID, ""), ip=ip, state=_state(attrs),
            attempt=int(labels.get(LABEL_ATTEMPT, "0") or 0),
            pod_name=labels.get(LABEL_POD_NAME, ""), namespace=labels.get(LABEL_POD_NAMESPACE, ""),
            labels=labels)

    async def run_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        if not await self.image_present(self.pause_image):
            await self.pull_image(self.pause_image)
        return await self._bridge(self._run_sandbox, spec)

    def _inspect_all(self, filters: dict[str, Any], complete: bool = False) -> list[dict[str, Any]]:
        """Every container `filters` lists, inspected. An inspection is reused while no
        engine event came for the container and the list shows it in the same state:
        podlab's containers never restart in place, so what inspect says of a running or
        exited one holds until then. (The list alone is not enough: Docker 20.10 sends
        "die" before its list shows the exit.) `complete`: the list is all of this node's
        containers; forget the rest."""
        out = []
        summaries = self._api.containers(all=True, filters=filters)
        if complete:
            listed = {s["Id"] for s in summaries}
            # list(): a snapshot, as bridge threads and the event pump add to these
            for cid in {*list(self._inspected), *list(self._events_seen)} - listed:
                self._forget(cid)
        for summary in summaries:
            cid = summary["Id"]
            seen = self._events_seen.get(cid, 0)
            cached, at = self._inspected.get(cid, (None, -1))
            if cached is not None and at == seen and \
                    (cached.get("State") or {}).get("Status") == summary.get("State"):
                out.append(cached)
                continue
            try:
                attrs = self._api.inspect_container(cid)
            except docker.errors.NotFound:
                continue
            self._inspected[cid] = (attrs, seen)
            if _state(attrs) == EXITED:
                self._targets.pop(cid, None)
            elif self._helper and cid not in self._targets and (attrs.get("State") or {}).get("Running"):
                self._targets[cid] = target_of(attrs)
            out.append(attrs)
        return out

    def _forget(self, container_id: str) -> None:
        self._inspected.pop(container_id, None)
        self._events_seen.pop(container_id, None)
        self._targets.pop(container_id, None)

    def _filters(self, pod_uid: str | None) -> dict[str, Any]:
        labels = [f"{LABEL_MANAGED}=true", f"{LABEL_NODE}={self.node_name}"]
        if pod_uid:
            labels.append(f"{LABEL_POD_UID}={pod_uid}")
        return {"label": labels}

    async def list_sandboxes(self, pod_uid: str | None = None) -> list[SandboxInfo]:
        filters = self._filters(pod_uid)
        filters["label"].append(f"{LABEL_TYPE}={TYPE_SANDBOX}")
        attrs = await self._bridge(self._inspect_all, filters)
        return [self._sandbox_info(a) for a in attrs]

    # -- containers ---------------------------------------------------------------------

    @staticmethod
    def _mounts(mounts: list[Mount]) -> list[docker.types.Mount]:
        return [docker.types.Mount(target=m.target, source=m.source, type=m.kind,
                                   read_only=m.read_only, no_copy=m.kind == "volume")
                for m in mounts]

    def _create(self, spec: ContainerSpec, sandbox: SandboxInfo) -> str:
        mounts = self._mounts(spec.mounts)
        name = self._name(spec.namespace, spec.pod_name, spec.name, spec.attempt, spec.pod_uid)
        limits: dict[str, Any] = {}
        if spec.nano_cpus:
            limits["nano_cpus"] = spec.nano_cpus
        if spec.memory_limit:
            limits["mem_limit"] = limits["memswap_limit"] = spec.memory_limit
        host_config = self._api.create_host_config(
            mounts=mounts, network_mode=f"container:{sandbox.id}", ipc_mode=f"container:{sandbox.id}",
            read_only=spec.read_only_rootfs, **limits)
        # The low-level call: one round trip (the SDK's containers.create inspects afterwards).
        # create_container's own steps, so StdinOnce (which it has no argument for) can be set.
        environment = self._api._proxy_configs.inject_proxy_environment(
            docker.utils.utils.format_environment(spec.env)) or None
        config = self._api.create_container_config(
            spec.image, spec.args or ([] if spec.command else None), labels=spec.labels, environment=environment,
            host_config=host_config, entrypoint=spec.command or None, user=spec.user or None,
            working_dir=spec.working_dir or None, tty=spec.tty, stdin_open=spec.stdin, detach=True)
        config["StdinOnce"] = spec.stdin and spec.stdin_once  # the SDK has no argument for it
        created = self._create_named(name, lambda: self._api.create_container_from_config(config, name))
        return str(created["Id"])

    async def create_container(self, spec: ContainerSpec, sandbox: SandboxInfo) -> str:
        return await self._bridge(self._create, spec, sandbox)

    async def start_container(self, container_id: str) -> None:
        await self._bridge(self._api.start, container_id)

    def _stop(self, container_id: str, timeout: float) -> None:
        try:
            if timeout <= 0:
                self._api.kill(container_id)
            else:
                self._api.stop(container_id, timeout=max(1, round(timeout)))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            if "is not running" not in str(err):
                raise

    async def stop_container(self, container_id: str, timeout: float) -> None:
        await self._bridge(self._stop, container_id, timeout)

    def _remove(self, container_id: str) -> None:
        self._forget(container_id)
        try:
            self._api.remove_container(container_id, force=True, v=False)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            if "already in progress" not in str(err):
                raise

    async def remove_container(self, container_id: str) -> None:
        await self._bridge(self._remove, container_id)

    @staticmethod
    def container_info(attrs: dict[str, Any]) -> ContainerInfo:
        labels = attrs.get("Config", {}).get("Labels") or {}
        st = attrs.get("State", {})
        return ContainerInfo(
            id=attrs["Id"], pod_uid=labels.get(LABEL_POD_UID, ""),
            pod_name=labels.get(LABEL_POD_NAME, ""), namespace=labels.get(LABEL_POD_NAMESPACE, ""),
            container_name=labels.get(LABEL_CONTAINER_NAME, ""),
            attempt=int(labels.get(LABEL_ATTEMPT, "0") or 0), state=_state(attrs),
            exit_code=int(st.get("ExitCode", 0) or 0), started_at=_epoch(st.get("StartedAt")),
            finished_at=_epoch(st.get("FinishedAt")), oom_killed=bool(st.get("OOMKilled")),
            image=attrs.get("Config", {}).get("Image", ""), image_id=attrs.get("Image", ""),
            labels=labels)

    async def list_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]:
        return (await self.list_all(pod_uid))[0]

    async def list_all(self, pod_uid: str | None = None) -> tuple[list[ContainerInfo], list[SandboxInfo]]:
        attrs = await self._bridge(self._inspect_all, self._filters(pod_uid), pod_uid is None)
        containers, sandboxes = [], []
        for a in attrs:
            if (a.get("Config", {}).get("Labels") or {}).get(LABEL_TYPE) == TYPE_SANDBOX:
                sandboxes.append(self._sandbox_info(a))
            else:
                containers.append(self.container_info(a))
        return containers, sandboxes

    def _exec(self, container_id: str, command: list[str]) -> ExecResult:
        exec_id = self._api.exec_create(container_id, command, stdout=True, stderr=True)["Id"]
        out, err = self._api.exec_start(exec_id, demux=True)
        code = self._api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(int(code if code is not None else -1), out or b"", err or b"")

    def _target(self, container_id: str) -> Target | None:
        try:
            attrs = self._api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        target = target_of(attrs)
        if target is not None:
            self._targets[container_id] = target
        return target

    async def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        """Run `command` in the container: entering it directly when this agent can
        (podlab-nsexec), else through the engine."""
        if self._helper:
            target = self._targets.get(container_id)
            if target is None and container_id not in self._targets:
                target = await self._bridge(self._target, container_id)
            if target is not None:
                try:
                    return await nsexec(self._helper, target, command, timeout)
                except NsExecUnavailable as err:  # e.g. it stopped; the engine says why
                    self._targets.pop(container_id, None)
                    log.debug("nsexec into %s: %s", container_id[:12], err)
        async with asyncio.timeout(timeout):
            return await self._bridge(self._exec, container_id, command)

    def _exec_attached(self, container_id: str, command: list[str], stdin: bool,
                       tty: bool) -> tuple[str, Any]:
        exec_id = self._api.exec_create(container_id, command, stdin=stdin, stdout=True,
                                        stderr=True, tty=tty)["Id"]
        return exec_id, self._api.exec_start(exec_id, socket=True, tty=tty)

    async def open_exec(self, container_id: str, command: list[str], stdin: bool,
                        tty: bool) -> ExecSession:
        """Interactive exec always goes through the engine (nsexec has no attached streams)."""
        exec_id, sock = await self._bridge(self._exec_attached, container_id, command, stdin, tty)
        return DockerExecSession(self._api, self._bridge, exec_id, sock, tty)

    def _attach_socket(self, container_id: str, stdin: bool, output: bool) -> Any:
        params = {"stdin": int(stdin), "stdout": int(output), "stderr": int(output), "stream": 1}
        return self._api.attach_socket(container_id, params=params)

    async def open_attach(self, container_id: str, stdin: bool, tty: bool) -> ExecSession:
        info = await self._bridge(self._api.inspect_container, container_id)
        if not (info.get("State") or {}).get("Running"):
            raise ContainerRuntimeError(f"container {container_id[:12]} is not running")
        # The stream is framed unless the container itself has a terminal, whatever the client asked.
        container_tty = bool((info.get("Config") or {}).get("Tty"))
        output = await self._bridge(self._attach_socket, container_id, False, True)
        stdin_sock = await self._bridge(self._attach_socket, container_id, True, False) if stdin else None
        return DockerAttachSession(self._api, self._bridge, container_id, output, stdin_sock, container_tty)

    async def bridge_call(self, fn: Callable[..., T], *args: Any) -> T:
        """The bridge, for tests that compare engine calls with the runtime's own paths."""
        return await self._bridge(fn, *args)

    # -- events -------------------------------------------------------------------------

    def _event_pump(self, loop: asyncio.AbstractEventLoop,
                    queue: asyncio.Queue[RuntimeEvent | None]) -> None:
        """The one thread that reads Docker's event stream into `queue`."""
        try:
            self._event_stream = self._client.events(
                decode=True, filters={"type": "container", "label": [f"{LABEL_NODE}={self.node_name}"]})
            loop.call_soon_threadsafe(queue.put_nowait, CONNECTED)  # the engine answered: live
            for ev in self._event_stream:
                action = ev.get("Action", ev.get("status", ""))
                # exec_create/start/die: every exec probe makes three; none changes the
                # container's state, and waking the pod's worker for each costs a full sync.
                if action.startswith("exec_"):
                    continue
                attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                cid = ev.get("id", "")
                self._events_seen[cid] = self._events_seen.get(cid, 0) + 1  # its inspection is stale
                event = RuntimeEvent(attrs.get(LABEL_POD_UID, ""), cid, action)
                loop.call_soon_threadsafe(queue.put_nowait, event)
        except Exception as err:  # noqa: BLE001 - the stream ends on close or engine loss
            if not self._closed:
                log.warning("docker event stream ended: %s", err, extra={"node": self.node_name})
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                loop.call_soon_threadsafe(queue.put_nowait, None)

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        queue: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue()
        thread = threading.Thread(target=self._event_pump, name="docker-event-pump",
                                  args=(asyncio.get_running_loop(), queue), daemon=True)
        thread.start()
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            stream = self._event_stream
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # noqa: BLE001
                    pass

    # -- volumes ------------------------------------------------------------------------

    def _ensure_volume(self, name: str, size_bytes: int, labels: dict[str, str]) -> str:
        try:
            self._client.volumes.get(name)
        except docker.errors.NotFound:
            opts = {"type": "tmpfs", "device": "tmpfs"}
            if size_bytes:
                opts["o"] = f"size={size_bytes}"
            self._client.volumes.create(name, driver="local", driver_opts=opts, labels=labels)
        return name

    async def ensure_memory_volume(self, name: str, size_bytes: int, labels: dict[str, str]) -> str:
        return await self._bridge(self._ensure_volume, name, size_bytes, labels)

    def _remove_volumes(self, pod_uid: str) -> None:
        for vol in self._client.volumes.list(filters={"label": f"{LABEL_POD_UID}={pod_uid}"}):
            try:
                vol.remove(force=True)
            except docker.errors.NotFound:
                pass

    async def remove_volumes(self, pod_uid: str) -> None:
        await self._bridge(self._remove_volumes, pod_uid)

    # -- logs and stats -----------------------------------------------------------------

    async def logs(self, container_id: str, follow: bool, tail: int | None,
                   timestamps: bool, since: float | None) -> AsyncIterator[bytes]:
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": timestamps,
                                  "tail": "all" if tail is None else tail}
        if since:
            kwargs["since"] = int(since)
        if not follow:
            data = await self._bridge(self._api.logs, container_id, **kwargs)
            if data:
                yield data
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        holder: dict[str, Any] = {}

        def pump() -> None:
            try:
                stream = self._api.logs(container_id, stream=True, follow=True, **kwargs)
                holder["stream"] = stream
                for chunk in stream:
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except Exception:  # noqa: BLE001 - the stream ends when the container goes
                pass
            finally:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(queue.put_nowait, None)

        thread = threading.Thread(target=pump, name="docker-log-pump", daemon=True)
        thread.start()
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
        finally:
            stream = holder.get("stream")
            if stream is not None and hasattr(stream, "close"):
                try:
                    stream.close()
                except Exception:  # noqa: BLE001
                    pass

    def _working_set(self, container_id: str) -> int:
        return _memory_working_set(self._stats(container_id))

    def _stats(self, container_id: str) -> dict[str, Any]:
        # one_shot: no second sample for CPU, so this answers at once instead of after ~1 s
        stats: dict[str, Any] = self._api.stats(container_id, stream=False, one_shot=True)
        return stats

    async def usage(self, container_id: str) -> ContainerUsage:
        try:
            stats = await self._bridge(self._stats, container_id)
        except (ContainerRuntimeError, docker.errors.NotFound):
            return ContainerUsage(0.0, 0)
        cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage", 0) or 0
        return ContainerUsage(int(cpu) / 1e9, _memory_working_set(stats))

    async def memory_working_set(self, container_id: str) -> int:
        try:
            return await self._bridge(self._working_set, container_id)
        except (ContainerRuntimeError, docker.errors.NotFound):
            return 0

    def version(self) -> str:
        try:
            return f"docker://{self._api.version().get('Version', '?')}"
        except docker.errors.DockerException:
            return "docker://unknown"

    async def close(self) -> None:
        self._closed = True
        stream = self._event_stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
