"""The core group's kinds (v1): Pod, Node, Namespace, ConfigMap, Secret, Event."""

from __future__ import annotations

from podlab import printers
from podlab.kinds import Columns, Kind, register
from podlab.printers import since
from podlab.v1 import objects_pb2 as v1

# Kubernetes' protobuf numbers (k8s.io/api core/v1 and apimachinery meta/v1 generated.proto) for the
# fields podlab has, of every message the Pod reaches: ObjectMeta and the pod spec are declared here, once.
POD_WIRE = {
    'Affinity': {'nodeAffinity': 1},
    'Capabilities': {'add': 1, 'drop': 2},
    'ConfigMapEnvSource': {'localObjectReference': 1, 'optional': 2},
    'ConfigMapKeySelector': {'localObjectReference': 1, 'key': 2, 'optional': 3},
    'ConfigMapProjection': {'localObjectReference': 1, 'items': 2, 'optional': 4},
    'ConfigMapVolumeSource': {'localObjectReference': 1, 'items': 2, 'defaultMode': 3, 'optional': 4},
    'Container': {'name': 1, 'image': 2, 'command': 3, 'args': 4, 'workingDir': 5, 'ports': 6, 'env': 7,
        'resources': 8, 'volumeMounts': 9, 'livenessProbe': 10, 'readinessProbe': 11, 'lifecycle': 12,
        'terminationMessagePath': 13, 'imagePullPolicy': 14, 'securityContext': 15, 'stdin': 16, 'stdinOnce': 17,
        'tty': 18, 'envFrom': 19, 'terminationMessagePolicy': 20, 'startupProbe': 22, 'restartPolicy': 24},
    'ContainerPort': {'name': 1, 'hostPort': 2, 'containerPort': 3, 'protocol': 4, 'hostIP': 5},
    'ContainerState': {'waiting': 1, 'running': 2, 'terminated': 3},
    'ContainerStateRunning': {'startedAt': 1},
    'ContainerStateTerminated': {'exitCode': 1, 'signal': 2, 'reason': 3, 'message': 4, 'startedAt': 5,
        'finishedAt': 6, 'containerID': 7},
    'ContainerStateWaiting': {'reason': 1, 'message': 2},
    'ContainerStatus': {'name': 1, 'state': 2, 'lastState': 3, 'ready': 4, 'restartCount': 5, 'image': 6,
        'imageID': 7, 'containerID': 8, 'started': 9},
    'DownwardAPIProjection': {'items': 1},
    'DownwardAPIVolumeFile': {'path': 1, 'fieldRef': 2, 'resourceFieldRef': 3, 'mode': 4},
    'DownwardAPIVolumeSource': {'items': 1, 'defaultMode': 2},
    'EmptyDirVolumeSource': {'medium': 1, 'sizeLimit': 2},
    'EnvFromSource': {'prefix': 1, 'configMapRef': 2, 'secretRef': 3},
    'EnvVar': {'name': 1, 'value': 2, 'valueFrom': 3},
    'EnvVarSource': {'fieldRef': 1, 'resourceFieldRef': 2, 'configMapKeyRef': 3, 'secretKeyRef': 4},
    'ExecAction': {'command': 1},
    'GRPCAction': {'port': 1, 'service': 2},
    'HTTPGetAction': {'path': 1, 'port': 2, 'host': 3, 'scheme': 4, 'httpHeaders': 5},
    'HTTPHeader': {'name': 1, 'value': 2},
    'HostAlias': {'ip': 1, 'hostnames': 2},
    'HostPathVolumeSource': {'path': 1, 'type': 2},
    'KeyToPath': {'key': 1, 'path': 2, 'mode': 3},
    'Lifecycle': {'postStart': 1, 'preStop': 2},
    'LifecycleHandler': {'exec': 1, 'httpGet': 2, 'tcpSocket': 3, 'sleep': 4},
    'LocalObjectReference': {'name': 1},
    'NodeAffinity': {'requiredDuringSchedulingIgnoredDuringExecution': 1,
        'preferredDuringSchedulingIgnoredDuringExecution': 2},
    'NodeSelector': {'nodeSelectorTerms': 1},
    'NodeSelectorRequirement': {'key': 1, 'operator': 2, 'values': 3},
    'NodeSelectorTerm': {'matchExpressions': 1, 'matchFields': 2},
    'ObjectFieldSelector': {'apiVersion': 1, 'fieldPath': 2},
    'ObjectMeta': {'name': 1, 'generateName': 2, 'namespace': 3, 'uid': 5, 'resourceVersion': 6, 'generation': 7,
        'creationTimestamp': 8, 'deletionTimestamp': 9, 'deletionGracePeriodSeconds': 10, 'labels': 11,
        'annotations': 12, 'ownerReferences': 13, 'finalizers': 14},
    'OwnerReference': {'kind': 1, 'name': 3, 'uid': 4, 'apiVersion': 5, 'controller': 6, 'blockOwnerDeletion': 7},
    'Pod': {'metadata': 1, 'spec': 2, 'status': 3},
    'PodCondition': {'type': 1, 'status': 2, 'lastProbeTime': 3, 'lastTransitionTime': 4, 'reason': 5, 'message': 6},
    'PodIP': {'ip': 1},
    'PodSecurityContext': {'seLinuxOptions': 1, 'runAsUser': 2, 'runAsNonRoot': 3, 'supplementalGroups': 4,
        'fsGroup': 5, 'runAsGroup': 6, 'seccompProfile': 10},
    'PodSpec': {'volumes': 1, 'containers': 2, 'restartPolicy': 3, 'terminationGracePeriodSeconds': 4,
        'activeDeadlineSeconds': 5, 'dnsPolicy': 6, 'nodeSelector': 7, 'serviceAccountName': 8,
        'serviceAccount': 9, 'nodeName': 10, 'hostNetwork': 11, 'hostPID': 12, 'hostIPC': 13,
        'securityContext': 14, 'imagePullSecrets': 15, 'hostname': 16, 'subdomain': 17, 'affinity': 18,
        'schedulerName': 19, 'initContainers': 20, 'automountServiceAccountToken': 21, 'tolerations': 22,
        'hostAliases': 23, 'priorityClassName': 24, 'priority': 25, 'shareProcessNamespace': 27,
        'enableServiceLinks': 30},
    'PodStatus': {'phase': 1, 'conditions': 2, 'message': 3, 'reason': 4, 'hostIP': 5, 'podIP': 6, 'startTime': 7,
        'containerStatuses': 8, 'qosClass': 9, 'initContainerStatuses': 10, 'nominatedNodeName': 11, 'podIPs': 12},
    'PreferredSchedulingTerm': {'weight': 1, 'preference': 2},
    'Probe': {'handler': 1, 'initialDelaySeconds': 2, 'timeoutSeconds': 3, 'periodSeconds': 4,
        'successThreshold': 5, 'failureThreshold': 6, 'terminationGracePeriodSeconds': 7},
    'ProbeHandler': {'exec': 1, 'httpGet': 2, 'tcpSocket': 3, 'grpc': 4},
    'ProjectedVolumeSource': {'sources': 1, 'defaultMode': 2},
    'ResourceFieldSelector': {'containerName': 1, 'resource': 2, 'divisor': 3},
    'ResourceRequirements': {'limits': 1, 'requests': 2},
    'SELinuxOptions': {'user': 1, 'role': 2, 'type': 3, 'level': 4},
    'SeccompProfile': {'type': 1, 'localhostProfile': 2},
    'SecretEnvSource': {'localObjectReference': 1, 'optional': 2},
    'SecretKeySelector': {'localObjectReference': 1, 'key': 2, 'optional': 3},
    'SecretProjection': {'localObjectReference': 1, 'items': 2, 'optional': 4},
    'SecretVolumeSource': {'secretName': 1, 'items': 2, 'defaultMode': 3, 'optional': 4},
    'SecurityContext': {'capabilities': 1, 'privileged': 2, 'seLinuxOptions': 3, 'runAsUser': 4, 'runAsNonRoot': 5,
        'readOnlyRootFilesystem': 6, 'allowPrivilegeEscalation': 7, 'runAsGroup': 8, 'seccompProfile': 11},
    'ServiceAccountTokenProjection': {'audience': 1, 'expirationSeconds': 2, 'path': 3},
    'SleepAction': {'seconds': 1},
    'TCPSocketAction': {'port': 1, 'host': 2},
    'Toleration': {'key': 1, 'operator': 2, 'value': 3, 'effect': 4, 'tolerationSeconds': 5},
    'Volume': {'name': 1, 'volumeSource': 2},
    'VolumeMount': {'name': 1, 'readOnly': 2, 'mountPath': 3, 'subPath': 4, 'mountPropagation': 5, 'subPathExpr': 6},
    'VolumeProjection': {'secret': 1, 'downwardAPI': 2, 'configMap': 3, 'serviceAccountToken': 4},
    'VolumeSource': {'hostPath': 1, 'emptyDir': 2, 'secret': 6, 'downwardAPI': 16, 'configMap': 19, 'projected': 26},
}

PODS = register(Kind(
    "Pod", v1.Pod, "pods", True, ("pod", "po"), categories=("all",),
    columns=Columns(("NAME", "READY", "STATUS", "RESTARTS", "AGE"), ("IP", "NODE", "NOMINATED NODE", "READINESS GATES"),
                    printers.pod_row),
    wire=POD_WIRE))

NODES = register(Kind(
    "Node", v1.Node, "nodes", False, ("node", "no"),
    columns=Columns(("NAME", "STATUS", "ROLES", "AGE", "VERSION"),
                    ("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME", "CPU", "MEMORY"),
                    printers.node_row),
    wire={
    'DaemonEndpoint': {'port': 1},
    'Node': {'metadata': 1, 'spec': 2, 'status': 3},
    'NodeAddress': {'type': 1, 'address': 2},
    'NodeCondition': {'type': 1, 'status': 2, 'lastHeartbeatTime': 3, 'lastTransitionTime': 4, 'reason': 5,
        'message': 6},
    'NodeDaemonEndpoints': {'kubeletEndpoint': 1},
    'NodeSpec': {'podCIDR': 1, 'providerID': 3, 'unschedulable': 4, 'taints': 5},
    'NodeStatus': {'capacity': 1, 'allocatable': 2, 'phase': 3, 'conditions': 4, 'addresses': 5,
        'daemonEndpoints': 6, 'nodeInfo': 7},
    'NodeSystemInfo': {'machineID': 1, 'kernelVersion': 4, 'osImage': 5, 'containerRuntimeVersion': 6,
        'kubeletVersion': 7, 'operatingSystem': 9, 'architecture': 10},
    'Taint': {'key': 1, 'value': 2, 'effect': 3, 'timeAdded': 4},
}))

NAMESPACES = register(Kind(
    "Namespace", v1.Namespace, "namespaces", False, ("namespace", "ns"),
    columns=Columns(("NAME", "STATUS", "AGE"), (),
                    lambda o, now, wide, pods: [o.metadata.name, o.status.phase or "Active",
                                                since(o.metadata.creation_timestamp, now)]),
    wire={
    'Namespace': {'metadata': 1, 'spec': 2, 'status': 3},
    'NamespaceSpec': {'finalizers': 1},
    'NamespaceStatus': {'phase': 1},
}))

CONFIG_MAPS = register(Kind(
    "ConfigMap", v1.ConfigMap, "configmaps", True, ("configmap", "cm"),
    columns=Columns(("NAME", "DATA", "AGE"), (),
                    lambda o, now, wide, pods: [o.metadata.name, str(len(o.data) + len(o.binary_data)),
                                                since(o.metadata.creation_timestamp, now)]),
    wire={
    'ConfigMap': {'metadata': 1, 'data': 2, 'binaryData': 3, 'immutable': 4},
}))

SECRETS = register(Kind(
    "Secret", v1.Secret, "secrets", True, ("secret",),
    columns=Columns(("NAME", "TYPE", "DATA", "AGE"), (),
                    lambda o, now, wide, pods: [o.metadata.name, o.type or "Opaque", str(len(o.data)),
                                                since(o.metadata.creation_timestamp, now)]),
    wire={
    'Secret': {'metadata': 1, 'data': 2, 'type': 3, 'stringData': 4, 'immutable': 5},
}))

EVENTS = register(Kind(
    "Event", v1.Event, "events", True, ("event", "ev"),
    columns=Columns(("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"),
                    ("LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT",
                     "NAME"),
                    printers.event_row, wide_replaces=True),
    wire={
    'Event': {'metadata': 1, 'involvedObject': 2, 'reason': 3, 'message': 4, 'source': 5, 'firstTimestamp': 6,
        'lastTimestamp': 7, 'count': 8, 'type': 9, 'reportingComponent': 14},
    'EventSource': {'component': 1, 'host': 2},
    'ObjectReference': {'kind': 1, 'namespace': 2, 'name': 3, 'uid': 4, 'apiVersion': 5, 'resourceVersion': 6,
        'fieldPath': 7},
}))
