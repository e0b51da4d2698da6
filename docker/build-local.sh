#!/usr/bin/env bash
# Build and run docker/Dockerfile without a Docker engine and without a registry: Debian's buildah, a base
# image made offline from Debian's packages by debootstrap, and (where this machine has one) the local torch
# 2.13.0 CPU wheel passed as the `wheelhouse` build context. See docker/README.md for the figures it measured.
#
#   sudo docker/build-local.sh [STEP ...]     STEP: base | build | test | demo | all (default: all)
#
#   base   make $BASE_IMAGE: debootstrap --variant=minbase bookworm with python3 (3.11), venv and pip,
#          committed with buildah (skipped when the image exists; FORCE_BASE=1 makes it again)
#   build  buildah bud docker/Dockerfile with BASE=$BASE_IMAGE, WITH_ARDUINO=0 -> $IMAGE
#   test   `make test` in a fresh container of $IMAGE
#   demo   `make demo` in a fresh container of $IMAGE (DEMO_OUT=DIR keeps demo-out/ there)
#
# Settings (environment): IMAGE (localhost/tinykd:local), BASE_IMAGE (localhost/tinykd-base:bookworm),
# MIRROR (http://deb.debian.org/debian), WITH_ARDUINO (0), WHEELHOUSE (a folder holding
# torch-2.13.0+cpu-*.whl; default: the first such folder in PIP_FIND_LINKS), TORCH_INDEX (default: empty when a
# wheelhouse is found, else https://download.pytorch.org/whl/cpu), CA_BUNDLE (a CA bundle file given to pip
# as the build secret ca_bundle; default: PIP_CERT when set), MIN_FREE_GB (20), DEMO_OUT, PYTEST_ADDOPTS.
#
# Needs root (debootstrap, buildah mount) and `apt-get install buildah debootstrap`. Every buildah command runs
# with --isolation chroot: the default OCI runtime cannot create namespaces on these machines.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${IMAGE:-localhost/tinykd:local}"
BASE_IMAGE="${BASE_IMAGE:-localhost/tinykd-base:bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
WITH_ARDUINO="${WITH_ARDUINO:-0}"
MIN_FREE_GB="${MIN_FREE_GB:-20}"
export BUILDAH_ISOLATION=chroot

die() { printf 'build-local.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }

need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found; install it with: apt-get install buildah debootstrap"
    done
    [ "$(id -u)" = 0 ] || die "run as root (debootstrap and buildah mount need it)"
}

check_disk() {
    local store free_gb
    store="$(buildah info --format '{{.store.GraphRoot}}' 2>/dev/null || echo /var/lib/containers/storage)"
    mkdir -p "$store"
    free_gb="$(df -P -BG "$store" | awk 'NR == 2 { sub("G", "", $4); print $4 }')"
    [ "$free_gb" -ge "$MIN_FREE_GB" ] || die "only ${free_gb} GB free under $store; the build needs ${MIN_FREE_GB} GB (MIN_FREE_GB)"
    say "disk: ${free_gb} GB free under $store"
}

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

image_size() { buildah images --format '{{.Size}}' "$1" 2>/dev/null | head -n 1; }

step_base() {
    need_tools buildah debootstrap
    if image_exists "$BASE_IMAGE" && [ "${FORCE_BASE:-0}" != 1 ]; then
        say "base: $BASE_IMAGE exists (FORCE_BASE=1 makes it again)"
        return
    fi
    check_disk
    local mnt start
    start=$SECONDS
    ctr="$(buildah from scratch)"
    # The working container is removed however the script ends (its mount goes with it); commit --rm removes it
    # on success.
    trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
    mnt="$(buildah mount "$ctr")"
    say "base: debootstrap bookworm into $mnt from $MIRROR"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates,netbase \
        bookworm "$mnt" "$MIRROR"
    # The same suites the official images list, so `apt-get install` in the Dockerfile gets security fixes.
    cat >"$mnt/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    chroot "$mnt" apt-get clean
    rm -rf "$mnt/var/lib/apt/lists/"* "$mnt/var/cache/apt/"*.bin
    local version
    version="$(chroot "$mnt" python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    case "$version" in 3.11.*) ;; *) die "bookworm's python3 is $version, not 3.11" ;; esac
    buildah unmount "$ctr" >/dev/null
    buildah config --env LANG=C.UTF-8 --cmd /bin/bash \
        --label "org.opencontainers.image.description=Debian bookworm minbase + python3 $version (debootstrap)" "$ctr"
    buildah commit --rm "$ctr" "$BASE_IMAGE" >/dev/null
    trap - EXIT
    say "base: $BASE_IMAGE (python3 $version, $(image_size "$BASE_IMAGE")) in $((SECONDS - start)) s"
}

find_wheelhouse() {
    # A folder among PIP_FIND_LINKS (separated by spaces) that holds the torch 2.13.0 CPU wheel.
    local dir whl
    for dir in ${PIP_FIND_LINKS:-}; do
        dir="${dir#file://}"
        for whl in "$dir"/torch-2.13.0+cpu-cp311-*.whl; do
            if [ -f "$whl" ]; then printf '%s\n' "$dir"; return; fi
        done
    done
}

step_build() {
    need_tools buildah
    image_exists "$BASE_IMAGE" || die "no base image $BASE_IMAGE; run the base step first"
    check_disk
    local wheelhouse="${WHEELHOUSE-$(find_wheelhouse)}"
    local torch_index
    local -a args=(
        bud --isolation chroot --pull=never
        --ignorefile "$REPO/docker/Dockerfile.dockerignore"
        -f "$REPO/docker/Dockerfile"
        --build-arg "BASE=$BASE_IMAGE"
        --build-arg "WITH_ARDUINO=$WITH_ARDUINO"
        -t "$IMAGE"
    )
    if [ -n "$wheelhouse" ]; then
        [ -d "$wheelhouse" ] || die "WHEELHOUSE=$wheelhouse is not a folder"
        args+=(--build-context "wheelhouse=$wheelhouse")
        torch_index="${TORCH_INDEX-}"
        say "build: torch from the wheelhouse $wheelhouse"
    else
        torch_index="${TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
        say "build: no local torch wheel; torch from ${torch_index:-(nowhere: the build will stop)}"
    fi
    args+=(--build-arg "TORCH_INDEX=$torch_index")
    local ca="${CA_BUNDLE-${PIP_CERT:-}}"
    if [ -n "$ca" ]; then
        [ -f "$ca" ] || die "CA_BUNDLE=$ca is not a file"
        args+=(--secret "id=ca_bundle,src=$ca")
        say "build: pip trusts $ca (the build secret ca_bundle: not kept in the image)"
    fi
    local start=$SECONDS old new
    old="$(buildah images --noheading --format '{{.ID}}' "$IMAGE" 2>/dev/null | head -n 1 || true)"
    local before rc=0 c
    before="$(buildah containers --quiet)"
    buildah "${args[@]}" "$REPO" || rc=$?
    if [ "$rc" != 0 ]; then
        # A failed bud leaves its working containers (buildah 1.28 has --force-rm only with --layers).
        for c in $(buildah containers --quiet); do
            printf '%s\n' "$before" | grep -qxF "$c" || buildah rm "$c" >/dev/null
        done
        die "buildah bud failed (exit $rc); its working containers were removed"
    fi
    say "build: $IMAGE ($(image_size "$IMAGE")) in $((SECONDS - start)) s"
    new="$(buildah images --noheading --format '{{.ID}}' "$IMAGE" | head -n 1)"
    if [ -n "$old" ] && [ "$old" != "$new" ]; then
        # The image this build replaced is untagged now; drop it rather than leave 4-5 GB behind per rebuild.
        buildah rmi "$old" >/dev/null 2>&1 && say "build: removed the replaced image $old" || true
    fi
}

run_in_image() {
    # run_in_image NAME [-v SRC:DST ...] -- COMMAND...: COMMAND in a fresh container of $IMAGE, then removed.
    local name="$1" ctr start rc=0
    shift
    local -a mounts=()
    while [ "$#" -gt 0 ] && [ "$1" != -- ]; do mounts+=("$1"); shift; done
    shift
    image_exists "$IMAGE" || die "no image $IMAGE; run the build step first"
    # PYTEST_ADDOPTS (e.g. -rs to list the skips) reaches `make test` inside.
    [ -z "${PYTEST_ADDOPTS:-}" ] || mounts+=(--env "PYTEST_ADDOPTS=$PYTEST_ADDOPTS")
    ctr="$(buildah from --pull=never "$IMAGE")"
    start=$SECONDS
    buildah run --isolation chroot "${mounts[@]}" "$ctr" -- "$@" || rc=$?
    say "$name: exit $rc after $((SECONDS - start)) s"
    buildah rm "$ctr" >/dev/null
    return "$rc"
}

step_test() { run_in_image "make test" -- make test; }

step_demo() {
    local -a mounts=()
    if [ -n "${DEMO_OUT:-}" ]; then
        mkdir -p "$DEMO_OUT"
        mounts=(-v "$(cd "$DEMO_OUT" && pwd):/work/tinykd/demo-out")
    fi
    run_in_image "make demo" "${mounts[@]}" -- make demo
}

main() {
    local -a steps=("$@")
    [ "${#steps[@]}" -gt 0 ] || steps=(all)
    local step
    for step in "${steps[@]}"; do
        case "$step" in
            base) step_base ;;
            build) step_build ;;
            test) step_test ;;
            demo) step_demo ;;
            all) step_base; step_build; step_test; step_demo ;;
            *) die "unknown step $step; use base, build, test, demo or all" ;;
        esac
    done
}

main "$@"
