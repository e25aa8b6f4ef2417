#!/usr/bin/env bash
# The 3-node podlab lab (compose/docker-compose.yml, project "podlab").
#
#   compose/lab.sh up       bootstrap the host (scripts/bootstrap.sh: quick when done
#                           already), build podlab/podlab:dev, start everything and
#                           wait until it is healthy
#   compose/lab.sh down     stop the lab, remove its containers, volumes and
#                           networks, every pod container of the lab's nodes
#                           (io.podlab.managed=true, io.podlab.node=node1..3)
#                           and the pods' volume directories
#   compose/lab.sh status   services, nodes, and pod containers per node
#   compose/lab.sh logs [SERVICE...]   follow-less logs of the lab services
#
# Environment: PODLAB_LAB_TIMEOUT (seconds for `up --wait`, default 180),
# PODLAB_SKIP_BOOTSTRAP=1 (do not run scripts/bootstrap.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PROJECT=podlab
LAB_DIR=/var/lib/podlab/lab
# shellcheck source=scripts/venv.sh
. "$ROOT/scripts/venv.sh"
SERVER=127.0.0.1:7443
PKI_DIR=/var/lib/podlab/pki
KUBECONFIG_PATH=/var/lib/podlab/kubeconfig

compose() { docker compose -p "$PROJECT" -f "$HERE/docker-compose.yml" "$@"; }
say() { printf '[lab] %s\n' "$*"; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

lab_pod_containers() {
    # Only the lab nodes' pods: other podlab agents (e2e tests) may share the engine.
    local n
    for n in node1 node2 node3; do
        docker ps -aq --filter label=io.podlab.managed=true --filter "label=io.podlab.node=$n"
    done
}

remove_pod_containers() {
    local ids
    ids="$(lab_pod_containers)"
    if [ -n "$ids" ]; then
        say "removing $(wc -w <<<"$ids") pod container(s)"
        # shellcheck disable=SC2086
        docker rm -f $ids >/dev/null
    fi
}

cmd_up() {
    if [ "${PODLAB_SKIP_BOOTSTRAP:-0}" != 1 ]; then
        # Every step is skipped when done: the engine, the project venv (whose pip builds
        # the image's wheels, and whose podctl the host uses), the offline kit.
        bash "$ROOT/scripts/bootstrap.sh"
    fi
    bash "$HERE/build-image.sh"
    mkdir -p "$LAB_DIR"/node1 "$LAB_DIR"/node2 "$LAB_DIR"/node3
    # The cluster PKI (made once, kept) and an admin kubeconfig, mounted read-only into the control plane.
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "${PODLAB_PYTHON:-python3}" -m podlab.pki "$PKI_DIR" \
        --host controlplane --host 10.244.255.10 --kubeconfig "$KUBECONFIG_PATH" --server "https://127.0.0.1:6443"
    say "docker compose up (waiting for health, up to ${PODLAB_LAB_TIMEOUT:-180}s)"
    if ! PODLAB_BASE_IMAGE=podlab/debian:bookworm \
            compose up -d --wait --wait-timeout "${PODLAB_LAB_TIMEOUT:-180}"; then
        compose ps -a >&2 || true
        compose logs --no-color --tail 40 >&2 || true
        die "the lab did not become healthy"
    fi
    compose ps
    cat <<EOF

The lab is up. podctl is on the host (scripts/bootstrap.sh links it into /usr/local/bin;
or: . $PODLAB_VENV/bin/activate):
  podctl --server $SERVER get nodes
  podctl --server $SERVER apply -f pod.yaml      (or: export PODLAB_SERVER=$SERVER)
With kubectl (the Kubernetes API over HTTPS on 127.0.0.1:6443):
  export KUBECONFIG=$KUBECONFIG_PATH
  kubectl get nodes
Node host IPs (hostPort): node1 127.0.10.1, node2 127.0.10.2, node3 127.0.10.3
Stop it with: compose/lab.sh down
EOF
}

cmd_down() {
    # Agents first, so none recreates a pod while its containers go.
    compose stop -t 10 node1 node2 node3 >/dev/null 2>&1 || true
    remove_pod_containers
    compose down -v --remove-orphans --timeout 10
    # A network left behind (e.g. a pod container that appeared late) blocks the next up.
    remove_pod_containers
    if docker network inspect podlab-pods >/dev/null 2>&1; then
        docker network rm podlab-pods >/dev/null || true
    fi
    rm -rf --one-file-system "${LAB_DIR:?}"/node1 "${LAB_DIR:?}"/node2 "${LAB_DIR:?}"/node3
    say "down"
}

cmd_status() {
    compose ps -a
    echo
    if [ -x "$PODLAB_VENV/bin/podctl" ]; then
        "$PODLAB_VENV/bin/podctl" --server "$SERVER" get nodes 2>&1 || true
        echo
    fi
    local n
    for n in node1 node2 node3; do
        docker ps -a --filter label=io.podlab.managed=true --filter "label=io.podlab.node=$n" \
            --format "$n\t{{.Names}}\t{{.Status}}\t{{.Image}}"
    done
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    logs) shift; compose logs --no-color "$@" ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
esac
