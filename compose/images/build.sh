#!/usr/bin/env bash
# Build podlab's offline image kit into the local Docker engine. No registry
# and no network inside any build: every image comes from host files (gcc,
# busybox built from Debian's source package, debootstrap from the Debian mirror,
# host-built wheels).
#
#   compose/images/build.sh [--force] [--no-cache] [IMAGE...]
#
#   IMAGE      any of: pause busybox nonroot debian nginx pytools agnhost goproxy (default: all)
#   --force    rebuild the images even when present and current
#   --no-cache also redo the debootstrap rootfs cached in $PODLAB_CACHE_DIR
#
# An image is skipped when it is present and its label io.podlab.kit.recipe
# matches the hash of its recipe (sources, inputs, base image id), so a warm
# re-run takes seconds. The map from upstream names to these images is
# compose/images/mirror.yaml. Needs root, docker, gcc + libc6-dev, make, patch,
# bzip2, debootstrap (scripts/bootstrap.sh installs them).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=scripts/venv.sh
. "$ROOT/scripts/venv.sh"
CACHE_DIR="${PODLAB_CACHE_DIR:-/var/cache/podlab}"
MIRROR="${PODLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
KIT_VERSION=1 # bump to rebuild every image everywhere
DEBIAN_SUITE=bookworm
DEBIAN_PACKAGES=python3,python3-venv,ca-certificates,bash,procps,nginx,curl,iproute2
PYTOOLS_REQUIREMENTS=("grpcio>=1.85,<2" "grpcio-health-checking>=1.85,<2")
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ALL_IMAGES=(pause busybox nonroot debian nginx pytools agnhost goproxy)

# name -> "primary alias alias..."
declare -A TAGS=(
    [pause]="podlab/pause:3.9 registry.k8s.io/pause:3.9"
    [busybox]="podlab/busybox:1.35.0 podlab/busybox:latest busybox:latest"
    [debian]="podlab/debian:bookworm podlab/ubuntu:14.04 ubuntu:14.04"
    [nginx]="podlab/nginx:latest nginx:latest"
    [pytools]="podlab/pytools:latest"
    [agnhost]="podlab/agnhost:2.53"
    [goproxy]="podlab/goproxy:0.1"
    [nonroot]="podlab/nonroot:1.4"
)

FORCE=0
NO_CACHE=0
WANTED=()
while [ $# -gt 0 ]; do
    case "$1" in
        --force) FORCE=1 ;;
        --no-cache) NO_CACHE=1; FORCE=1 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
        *)
            [ -n "${TAGS[$1]+x}" ] || { echo "build.sh: unknown image $1 (one of: ${ALL_IMAGES[*]})" >&2; exit 2; }
            WANTED+=("$1") ;;
    esac
    shift
done
[ ${#WANTED[@]} -gt 0 ] || WANTED=("${ALL_IMAGES[@]}")

T0=$SECONDS
say() { printf '[kit %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf '[kit] ERROR: %s\n' "$*" >&2; exit 1; }
# An image root is a directory of its own: never empty, never "/", never the host's /etc.
safe_root() { [[ -n "$1" && "$1" == /?* && "$(realpath -m "$1")" != / ]] || die "refusing image root '$1'"; }

command -v docker >/dev/null || die "docker client not found"
docker info >/dev/null 2>&1 || die "docker engine not answering (scripts/bootstrap.sh starts one)"
mkdir -p "$CACHE_DIR"
# One kit build at a time (bootstrap and lab.sh may race).
exec 9>"$CACHE_DIR/.build.lock"
flock 9

# The legacy builder needs nothing but the engine; BuildKit would need buildx.
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

WORK="$(mktemp -d "$CACHE_DIR/work.XXXXXX")"
cleanup() {
    # debootstrap mounts proc/sys in its target; never rm across a mount.
    if [ -d "$WORK" ]; then
        { grep -o " $WORK/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
        rm -rf --one-file-system "$WORK"
    fi
}
trap cleanup EXIT

hash_of() { # hash_of WORDS... : hash of the words and of every file among them
    local w
    {
        echo "kit=$KIT_VERSION"
        for w in "$@"; do
            if [ -f "$w" ]; then echo "file $(basename "$w") $(sha256sum < "$w")"; else echo "word $w"; fi
        done
    } | sha256sum | cut -c1-32
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

current() { # current IMAGE HASH : present with this recipe?
    [ "$FORCE" = 0 ] || return 1
    [ "$(docker image inspect -f '{{index .Config.Labels "io.podlab.kit.recipe"}}' "$1" 2>/dev/null || true)" = "$2" ]
}

tag_aliases() { # tag_aliases NAME : tag every alias from the primary
    local primary alias
    read -r primary _ <<<"${TAGS[$1]}"
    for alias in ${TAGS[$1]}; do
        [ "$alias" = "$primary" ] || docker tag "$primary" "$alias"
    done
}

primary_of() { local p; read -r p _ <<<"${TAGS[$1]}"; echo "$p"; }

# ---------------------------------------------------------------- pause
build_pause() {
    local img h ctx
    img="$(primary_of pause)"
    h="$(hash_of "$HERE/pause/pause.c" "$HERE/pause/Dockerfile" "$(gcc -dumpfullversion 2>/dev/null || echo nogcc)")"
    if current "$img" "$h"; then say "pause: $img current"; return; fi
    command -v gcc >/dev/null || die "gcc missing (apt-get install gcc libc6-dev)"
    ctx="$WORK/pause"
    mkdir -p "$ctx"
    gcc -static -Os -Wall -Wextra -Werror -o "$ctx/pause" "$HERE/pause/pause.c"
    strip "$ctx/pause"
    cp "$HERE/pause/Dockerfile" "$ctx/Dockerfile"
    run_logged pause-build docker build --label io.podlab.kit=1 --label "io.podlab.kit.recipe=$h" -t "$img" "$ctx"
    say "pause: built $img"
}

# ---------------------------------------------------------------- busybox
# Upstream busybox, as the busybox images the Kubernetes docs and e2e tests name
# are: built here from the source Debian ships (apt-get source busybox: upstream's
# tarball plus Debian's patches, of which only the CVE fixes are applied), with
# upstream's defconfig, static. Debian's own builds differ in ways tests see: no
# printenv, nc without -z, an ash that drops environment variables whose names are
# not shell names (envFrom's "data-1"), applets run before $PATH is searched.
BUSYBOX_SRC_PACKAGE=busybox
build_busybox() {
    local img h root applet bin
    img="$(primary_of busybox)"
    bin="$(upstream_busybox)"
    h="$(hash_of busybox "$bin" "$0")"
    if current "$img" "$h"; then say "busybox: $img current"; return; fi
    root="$WORK/busybox-root"
    safe_root "$root"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,var/www,var/run,proc,sys,dev}
    install -d -m 1777 "$root/tmp"
    install -m 0755 "$bin" "$root/bin/busybox"
    # A static glibc program still loads NSS modules to resolve names (wget, ping
    # by hostname), as the glibc busybox image does.
    local lib libdir=/lib/x86_64-linux-gnu
    for lib in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2 libc.so.6; do
        if [ -e "$libdir/$lib" ]; then install -D -m 0644 "$(readlink -f "$libdir/$lib")" "$root/lib/$lib"; fi
    done
    install -D -m 0755 "$(readlink -f /lib64/ld-linux-x86-64.so.2)" "$root/lib64/ld-linux-x86-64.so.2"
    printf 'hosts: files dns\nnetworks: files\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"
    while read -r applet; do
        if [ -z "$applet" ] || [ "$applet" = bin/busybox ]; then continue; fi
        mkdir -p "$root/$(dirname "$applet")"
        ln -sf /bin/busybox "$root/$applet"
    done < <("$bin" --list-full)
    for applet in sh sleep wget netstat cat nc httpd env echo awk tr printenv nslookup timeout killall \
            pgrep pkill nohup hostname id ps top; do
        compgen -G "$root/*bin/$applet" >/dev/null || compgen -G "$root/usr/*bin/$applet" >/dev/null \
            || die "busybox lacks the $applet applet"
    done
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
www-data:x:33:
nogroup:x:65534:
EOF
    # Placeholders: the engine bind-mounts the real ones into each container.
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    : >"$root/etc/resolv.conf"
    echo busybox >"$root/etc/hostname"
    tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . \
        | docker import \
            --change 'CMD ["sh"]' \
            --change "ENV PATH=$DEFAULT_PATH" \
            --change 'LABEL io.podlab.kit=1' \
            --change "LABEL io.podlab.kit.recipe=$h" \
            - "$img" >/dev/null
    say "busybox: built $img ($("$bin" 2>&1 | head -n 1 | cut -d' ' -f2), $("$bin" --list | wc -l) applets)"
}

# Print the path of upstream busybox built from Debian's source package, building it
# (about a minute) unless the cache has it. Only Debian's CVE patches are applied.
upstream_busybox() {
    local dir="$CACHE_DIR/busybox-src" src ver out
    mkdir -p "$dir/lists/partial" "$dir/sources"
    if ! compgen -G "$dir/${BUSYBOX_SRC_PACKAGE}_*.orig.tar.*" >/dev/null; then
        printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
            "$MIRROR" "$DEBIAN_SUITE" /usr/share/keyrings/debian-archive-keyring.gpg \
            >"$dir/sources/debian-src.sources"
        local apt_opts=(-q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$dir/sources"
                        -o "Dir::State::Lists=$dir/lists" -o APT::Sandbox::User=root -o Acquire::Retries=3)
        { apt-get "${apt_opts[@]}" update && (cd "$dir" && apt-get "${apt_opts[@]}" source --download-only \
            "$BUSYBOX_SRC_PACKAGE"); } >"$dir/fetch.log" 2>&1 </dev/null \
            || { tail -n 20 "$dir/fetch.log" >&2; die "apt-get source $BUSYBOX_SRC_PACKAGE failed"; }
    fi
    src="$(compgen -G "$dir/${BUSYBOX_SRC_PACKAGE}_*.orig.tar.*" | head -n 1)"
    ver="$(basename "$src" | sed 's/^[^_]*_\(.*\)\.orig\.tar\..*$/\1/')"
    out="$dir/build-$ver/busybox"
    if [ -x "$out" ] && file_is_static "$out"; then echo "$out"; return; fi
    { command -v make && command -v patch && command -v bzip2; } >/dev/null \
        || die "make, patch and bzip2 are needed to build busybox"
    say "busybox: building upstream busybox $ver from Debian's source (about a minute)" >&2
    local build="$WORK/busybox-build" tree patchfile
    mkdir -p "$build"
    tar -C "$build" -xf "$src"
    tar -C "$build" -xf "$(compgen -G "$dir/${BUSYBOX_SRC_PACKAGE}_*.debian.tar.*" | head -n 1)"
    tree="$(compgen -G "$build/busybox-*" | head -n 1)"
    while read -r patchfile; do
        case "$patchfile" in
            CVE-*) patch -d "$tree" -p1 -s <"$build/debian/patches/$patchfile" \
                       || die "busybox: $patchfile does not apply" ;;
        esac
    done < <(grep -v '^#' "$build/debian/patches/series" 2>/dev/null || true)
    (cd "$tree" && make defconfig >/dev/null 2>&1 \
        && sed -i 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' .config \
        && make -j"$(nproc)" busybox >"$dir/build.log" 2>&1) \
        || { tail -n 30 "$dir/build.log" >&2; die "busybox build failed"; }
    mkdir -p "$(dirname "$out")"
    install -m 0755 "$tree/busybox" "$out"
    echo "$out"
}

file_is_static() {
    # A dynamic ELF has a PT_INTERP program header; readelf comes with gcc (binutils).
    command -v readelf >/dev/null || return 0
    ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'program interpreter'
}

run_logged() { # run_logged WHAT CMD... : quiet unless CMD fails
    local what="$1" log="$WORK/$1.log"
    shift
    if ! "$@" >"$log" 2>&1; then
        grep -v -e 'legacy builder is deprecated' -e 'BuildKit is currently disabled' \
            -e 'environment-variable' "$log" | tail -n 40 >&2
        die "$what failed"
    fi
}

# ---------------------------------------------------------------- debian
build_debian() {
    local img h tarball root
    img="$(primary_of debian)"
    h="$(hash_of debian "$DEBIAN_SUITE" "$DEBIAN_PACKAGES" variant=minbase cleanup=1)"
    tarball="$CACHE_DIR/debian-$DEBIAN_SUITE-$h.tar"
    if current "$img" "$h"; then say "debian: $img current"; return; fi
    if [ "$NO_CACHE" = 1 ] || [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"
        root="$WORK/debian-root"
        safe_root "$root"
        say "debian: debootstrap $DEBIAN_SUITE (about a minute; log $CACHE_DIR/debootstrap.log)"
        if ! debootstrap --variant=minbase --include="$DEBIAN_PACKAGES" \
                "$DEBIAN_SUITE" "$root" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1; then
            tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
            die "debootstrap failed"
        fi
        # Keep the image small; nothing in a pod runs apt.
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
               "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
               "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*.log \
               "$root"/var/log/apt/* "$root"/var/cache/debconf/*-old "$root"/tmp/*
        # The engine provides these per container.
        : >"$root/etc/resolv.conf"
        echo localhost >"$root/etc/hostname"
        rm -f "$root"/etc/machine-id && : >"$root/etc/machine-id"
        rm -f "$CACHE_DIR"/debian-"$DEBIAN_SUITE"-*.tar
        tar --numeric-owner -C "$root" -cf "$tarball.part" .
        mv "$tarball.part" "$tarball"
        rm -rf --one-file-system "$root"
        say "debian: rootfs cached in $tarball ($(du -h "$tarball" | cut -f1))"
    else
        say "debian: using cached rootfs $tarball"
    fi
    docker import \
        --change 'CMD ["bash"]' \
        --change "ENV PATH=$DEFAULT_PATH" \
        --change 'ENV LANG=C.UTF-8' \
        --change 'LABEL io.podlab.kit=1' \
        --change "LABEL io.podlab.kit.recipe=$h" \
        "$tarball" "$img" >/dev/null
    say "debian: built $img"
}

# ---------------------------------------------------------------- derived images
# build_on NAME BASE CONTEXT [INPUT...]: build NAME from CONTEXT's Dockerfile with the
# kit image BASE as its BASE_IMAGE; INPUTs (with the base's id) make the recipe hash.
build_on() {
    local name="$1" base_name="$2" ctx="$3" img base h
    shift 3
    img="$(primary_of "$name")"
    base="$(primary_of "$base_name")"
    [ -n "$(image_id "$base")" ] || die "$name needs $base (build.sh $base_name)"
    h="$(hash_of "$name" "$(image_id "$base")" "$@")"
    if current "$img" "$h"; then say "$name: $img current"; return; fi
    run_logged "$name-build" docker build --build-arg "BASE_IMAGE=$base" --label io.podlab.kit=1 \
        --label "io.podlab.kit.recipe=$h" -t "$img" "$ctx"
    say "$name: built $img"
}

# build_inline NAME BASE LINE...: NAME is BASE plus these Dockerfile lines.
build_inline() {
    local name="$1" base_name="$2" ctx="$WORK/$1"
    shift 2
    mkdir -p "$ctx"
    printf 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n' >"$ctx/Dockerfile"
    printf '%s\n' "$@" >>"$ctx/Dockerfile"
    build_on "$name" "$base_name" "$ctx" "$ctx/Dockerfile"
}

# nginx on :80 with the stock page (compose/images/nginx).
build_nginx() { build_on nginx debian "$HERE/nginx" "$HERE"/nginx/*; }

# ---------------------------------------------------------------- pytools
build_pytools() {
    local img base h ctx
    img="$(primary_of pytools)"
    base="$(primary_of debian)"
    [ -n "$(image_id "$base")" ] || die "pytools needs $base (build.sh debian)"
    h="$(hash_of pytools "$(image_id "$base")" "$HERE/pytools/Dockerfile" "${PYTOOLS_REQUIREMENTS[@]}")"
    if current "$img" "$h"; then say "pytools: $img current"; return; fi
    ctx="$WORK/pytools"
    mkdir -p "$ctx/wheels"
    cp "$HERE/pytools/Dockerfile" "$ctx/Dockerfile"
    # Wheels for the image's CPython (Debian bookworm: 3.11), fetched on the host with the
    # project venv's pip (Debian's python3 has none).
    require_venv
    local pyver
    pyver="$(docker run --rm --network none --entrypoint python3 "$base" \
        -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"
    run_logged pytools-wheels "$VENV_PY" -m pip download --disable-pip-version-check --only-binary=:all: \
        --python-version "$pyver" --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_28_x86_64 --implementation cp \
        -d "$ctx/wheels" "${PYTOOLS_REQUIREMENTS[@]}" </dev/null
    run_logged pytools-build docker build --build-arg "BASE_IMAGE=$base" --label io.podlab.kit=1 \
        --label "io.podlab.kit.recipe=$h" -t "$img" "$ctx"
    say "pytools: built $img"
}

# registry.k8s.io/e2e-test-images/nonroot: an image whose user is 1234 (the
# runAsNonRoot tests run `id -u` in it).
build_nonroot() { build_inline nonroot busybox 'USER 1234'; }

# agnhost, the e2e test image's subcommands (compose/images/agnhost).
build_agnhost() { build_on agnhost pytools "$HERE/agnhost" "$HERE"/agnhost/*; }

# registry.k8s.io/goproxy:0.1, which the docs' TCP-probe example runs: something
# listening on :8080 (agnhost netexec; the example only connects to it).
build_goproxy() {
    build_inline goproxy agnhost 'EXPOSE 8080' \
        'ENTRYPOINT ["/agnhost", "netexec", "--http-port=8080", "--udp-port=-1"]' 'CMD []'
}

for name in "${WANTED[@]}"; do
    "build_$name"
    tag_aliases "$name"
done
# Drop kit images a rebuild left without a name (not those a container still uses).
docker image prune -f --filter label=io.podlab.kit=1 >/dev/null 2>&1 || true

# Every local image mirror.yaml points at must exist.
missing=()
while read -r target; do
    [ -n "$(image_id "$target")" ] || missing+=("$target")
done < <(awk '/^images:/{m=1; next} m && /^[^ #]/{m=0} m && /^  [^ #][^ ]*: /{print $2}' "$HERE/mirror.yaml" | sort -u)
if [ "${#WANTED[@]}" -eq "${#ALL_IMAGES[@]}" ] && [ "${#missing[@]}" -gt 0 ]; then
    die "mirror.yaml points at images that are not built: ${missing[*]}"
fi

say "kit images:"
for name in "${ALL_IMAGES[@]}"; do
    for tag in ${TAGS[$name]}; do
        if [ -n "$(image_id "$tag")" ]; then
            printf '  %-28s %s %s\n' "$tag" \
                "$(docker image inspect -f '{{.Id}}' "$tag" | cut -c8-19)" \
                "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1fMB", $1/1e6}')"
        fi
    done
done
