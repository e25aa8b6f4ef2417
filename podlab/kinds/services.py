"""Services: core/v1 Service and Endpoints, and discovery.k8s.io/v1 EndpointSlice.

The table rows follow kubectl's printService, printEndpoints and
printEndpointSlice (pkg/printers/internalversion/printers.go).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from podlab.kinds import Columns, Kind, register
from podlab.printers import NONE, format_labels, since
from podlab.v1 import objects_pb2 as v1

# The label that ties an EndpointSlice to its Service, and the one naming who manages it.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"

_MAX_LISTED = 3  # kubectl lists this many endpoints, then "+ N more..."


def external_ip(svc: v1.Service) -> str:
    """kubectl's getServiceExternalIP: the external IPs, a load balancer's ingress, or <pending>/<none>."""
    spec = svc.spec
    if spec.type in ("ClusterIP", "NodePort", ""):
        return ",".join(spec.external_ips) or NONE
    if spec.type == "LoadBalancer":
        ingress = [i.ip or i.hostname for i in svc.status.load_balancer.ingress]
        return ",".join([*ingress, *spec.external_ips]) or "<pending>"
    if spec.type == "ExternalName":
        return spec.external_name
    return "<unknown>"


def port_text(ports: Sequence[v1.ServicePort]) -> str:
    """kubectl's makePortString: 80/TCP, 80:30080/TCP, ...; <none> without ports."""
    return ",".join(f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
                    for p in ports) or NONE


def cluster_ip_text(svc: v1.Service) -> str:
    return ",".join(svc.spec.cluster_ips) or svc.spec.cluster_ip or NONE


def service_row(svc: v1.Service, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    row = [svc.metadata.name, svc.spec.type or "ClusterIP", cluster_ip_text(svc), external_ip(svc),
           port_text(svc.spec.ports), since(svc.metadata.creation_timestamp, now)]
    return row + [format_labels(svc.spec.selector)] if wide else row


def endpoints_text(endpoints: v1.Endpoints) -> str:
    """kubectl's formatEndpoints: up to three ip:port, then "+ N more..."; <none> when there are none."""
    listed: list[str] = []
    count = 0
    for subset in endpoints.subsets:
        if not subset.ports:  # a headless Service without ports: bare addresses
            count += len(subset.addresses)
            listed += [a.ip for a in subset.addresses]
            continue
        for port in subset.ports:
            count += len(subset.addresses)
            listed += [_host_port(a.ip, port.port) for a in subset.addresses]
    text = ",".join(listed[:_MAX_LISTED])
    if count > _MAX_LISTED:
        return f"{text} + {count - _MAX_LISTED} more..."
    return text or NONE


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def endpoints_row(ep: v1.Endpoints, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    return [ep.metadata.name, endpoints_text(ep), since(ep.metadata.creation_timestamp, now)]


def _with_more(listed: list[str], count: int) -> str:
    """kubectl's listWithMoreString: <unset> when empty."""
    text = ",".join(listed[:_MAX_LISTED])
    if count > _MAX_LISTED:
        return f"{text} + {count - _MAX_LISTED} more..."
    return text or "<unset>"


def slice_ports_text(ports: Sequence[v1.EndpointSlicePort]) -> str:
    listed = [str(p.port) if p.HasField("port") else (p.name if p.HasField("name") else "*") for p in ports]
    return _with_more(listed, len(listed))


def slice_endpoints_text(endpoints: Sequence[v1.Endpoint]) -> str:
    listed = [address for e in endpoints for address in e.addresses]
    return _with_more(listed, len(listed))


def endpoint_slice_row(s: v1.EndpointSlice, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    return [s.metadata.name, s.address_type, slice_ports_text(s.ports), slice_endpoints_text(s.endpoints),
            since(s.metadata.creation_timestamp, now)]


SERVICES = register(Kind(
    "Service", v1.Service, "services", True, ("service", "svc"), categories=("all",),
    columns=Columns(("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"), ("SELECTOR",), service_row),
    wire={
    'LoadBalancerIngress': {'ip': 1, 'hostname': 2},
    'LoadBalancerStatus': {'ingress': 1},
    'Service': {'metadata': 1, 'spec': 2, 'status': 3},
    'ServicePort': {'name': 1, 'protocol': 2, 'port': 3, 'targetPort': 4, 'nodePort': 5, 'appProtocol': 6},
    'ServiceSpec': {'ports': 1, 'selector': 2, 'clusterIP': 3, 'type': 4, 'externalIPs': 5, 'sessionAffinity': 7,
        'loadBalancerIP': 8, 'externalName': 10, 'externalTrafficPolicy': 11, 'publishNotReadyAddresses': 13,
        'ipFamilyPolicy': 17, 'clusterIPs': 18, 'ipFamilies': 19, 'allocateLoadBalancerNodePorts': 20,
        'internalTrafficPolicy': 22},
    'ServiceStatus': {'loadBalancer': 1},
}))

ENDPOINTS = register(Kind(
    "Endpoints", v1.Endpoints, "endpoints", True, ("ep",),
    columns=Columns(("NAME", "ENDPOINTS", "AGE"), (), endpoints_row),
    wire={
    'EndpointAddress': {'ip': 1, 'targetRef': 2, 'hostname': 3, 'nodeName': 4},
    'EndpointPort': {'name': 1, 'port': 2, 'protocol': 3, 'appProtocol': 4},
    'EndpointSubset': {'addresses': 1, 'notReadyAddresses': 2, 'ports': 3},
    'Endpoints': {'metadata': 1, 'subsets': 2},
}))

ENDPOINT_SLICES = register(Kind(
    "EndpointSlice", v1.EndpointSlice, "endpointslices", True, ("endpointslice",), "discovery.k8s.io/v1",
    columns=Columns(("NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"), (), endpoint_slice_row),
    wire={
    'Endpoint': {'addresses': 1, 'conditions': 2, 'hostname': 3, 'targetRef': 4, 'nodeName': 6, 'zone': 7},
    'EndpointConditions': {'ready': 1, 'serving': 2, 'terminating': 3},
    'EndpointSlice': {'metadata': 1, 'endpoints': 2, 'ports': 3, 'addressType': 4},
    # discovery/v1's EndpointPort (podlab's name keeps it apart from core/v1's).
    'EndpointSlicePort': {'name': 1, 'protocol': 2, 'port': 3, 'appProtocol': 4},
}))
