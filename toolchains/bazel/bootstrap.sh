#!/usr/bin/env bash
# Offline Bazel for IC-OS build rules.
#
# Machines of our kind reach Debian's archive and the Go module proxy, but not
# the Bazel Central Registry, GitHub or Go SDK downloads. This script makes a
# working Bazel 7 from those two sources alone:
#
#   chroot/      Debian sid made with mmdebstrap: bazel-bootstrap 7.7.1 (and
#                Debian's packaged Bazel rule modules), plus the disk tools the
#                tests call (e2fsprogs, dosfstools, mtools, gdisk, lvm2, ...).
#   modules/     rules_go and gazelle copied out of the Go module cache.
#   standins/    empty modules for what Bazel's own module graph names but
#                nothing offline provides (protobuf, zlib, buildozer, ...).
#   registry/    a local file registry serving rules_go and gazelle.
#   cache/       Bazel's output root, repository cache and disk cache.
#
# Everything lives in ICOS_BAZEL_HOME (default ~/.cache/icos-bazel), outside
# the checkout; every step is idempotent and skipped when its stamp is
# current. Remove the whole offline Bazel with:  toolchains/bazel/bootstrap.sh remove
#
# Usage: bootstrap.sh ensure            bootstrap (or check) everything
#        bootstrap.sh run DIR -- CMD..  run CMD inside the chroot with the
#                                      workspace DIR mounted (cwd kept if inside)
#        bootstrap.sh remove            stop Bazel servers, delete ICOS_BAZEL_HOME
set -euo pipefail

H="${ICOS_BAZEL_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/icos-bazel}"
ROOT="$H/chroot"
RULES_GO_VERSION=0.60.0
GAZELLE_VERSION=0.47.0
BAZEL_VERSION=7.7.1
# Packages of the chroot. Changing this list rebuilds the chroot.
CHROOT_PACKAGES="bazel-bootstrap,bazel-rules-shell,ca-certificates,gcc,libc6-dev,git,\
e2fsprogs,dosfstools,mtools,gdisk,fdisk,lvm2,tar,zstd,selinux-utils,cryptsetup-bin,grub-common,\
nginx-light,util-linux,coreutils,findutils,diffutils,python3,tzdata,mount,cpio,\
qemu-system-x86,qemu-utils,ovmf,\
mmdebstrap,debian-archive-keyring"

log() { printf '[offline-bazel] %s\n' "$*" >&2; }
die() { printf '[offline-bazel] error: %s\n' "$*" >&2; exit 1; }

# step NAME STAMPVALUE FUNCTION: run FUNCTION unless the stamp of NAME holds
# STAMPVALUE; print how long it took.
step() {
	local name=$1 want=$2 fn=$3 stamp="$H/stamps/$1"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		return 0
	fi
	log "$name: starting"
	local t0=$SECONDS
	"$fn"
	mkdir -p "$H/stamps"
	printf '%s' "$want" >"$stamp"
	log "$name: done in $((SECONDS - t0)) s"
}

# debian_mirror prints the host's Debian mirror, read from its apt
# configuration (never written into any file).
debian_mirror() {
	local uri
	uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n1 || true)
	if [[ -z "$uri" ]]; then
		uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null |
			tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n1 || true)
	fi
	[[ -n "$uri" ]] || die "no Debian mirror found in /etc/apt/sources.list{,.d}"
	printf '%s\n' "${uri%/}"
}

host_setup() {
	local missing=()
	command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
	command -v go >/dev/null || [[ -x /usr/local/go/bin/go ]] || die "Go is required at /usr/local/go"
	if ((${#missing[@]})); then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

make_chroot() {
	local mirror tmp="$ROOT.tmp"
	if [[ -x "$ROOT/usr/bin/bazel" ]]; then
		# The package list changed: add what is new to the existing chroot.
		unshare --mount --propagation private -- /bin/bash -c '
			set -e
			mount -t proc proc "$1/proc"
			mount --rbind /dev "$1/dev"; mount --make-rslave "$1/dev"
			chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
				apt-get -qq -o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false update
			chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
				apt-get -qq -y --no-install-recommends install ${2//,/ } >/dev/null
		' bash "$ROOT" "$CHROOT_PACKAGES"
		return 0
	fi
	mirror=$(debian_mirror)
	rm -rf "$tmp"
	mmdebstrap --quiet --variant=apt \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--aptopt='Acquire::Check-Date "false"' \
		--include="$CHROOT_PACKAGES" sid "$tmp" "$mirror"
	mv "$tmp" "$ROOT"
}

ca_certs() {
	# The host's extra CAs (a TLS-intercepting proxy, say) must be trusted
	# inside too, or the Go module proxy fails TLS.
	mkdir -p "$ROOT/usr/local/share/ca-certificates"
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
		cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
	fi
	chroot "$ROOT" update-ca-certificates >/dev/null 2>&1
}

# copy_module PATH@VERSION DEST: copy a module out of the read-only Go module
# cache, restoring the executable bits module zips lose.
copy_module() {
	local mod=$1 dest=$2 dir
	dir=$(GOFLAGS=-mod=mod go mod download -json "$mod" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[[ -d "$dir" ]] || die "go mod download $mod failed"
	rm -rf "$dest"
	mkdir -p "$(dirname "$dest")"
	cp -r "$dir" "$dest"
	chmod -R u+w "$dest"
	grep -rlI --null '^#!' "$dest" | xargs -0 -r chmod +x
}

modules() {
	local m="$H/modules"
	copy_module "github.com/bazelbuild/rules_go@v$RULES_GO_VERSION" "$m/rules_go"
	copy_module "github.com/bazelbuild/bazel-gazelle@v$GAZELLE_VERSION" "$m/gazelle"
	# gazelle <= 0.47 builds its repository tools from vendor/ in GOPATH mode.
	(cd "$m/gazelle" && GOFLAGS=-mod=mod go mod vendor -e >/dev/null 2>&1)
}

# standin NAME BUILD_CONTENT: an empty local module named NAME.
standin() {
	local d="$H/standins/$1"
	mkdir -p "$d"
	printf 'module(name = "%s", version = "0.0.0-offline")\n' "$1" >"$d/MODULE.bazel"
	printf '%s\n' "$2" >"$d/BUILD.bazel"
}

standins() {
	rm -rf "$H/standins"
	standin buildozer ''
	standin protobuf ''
	standin apple_support ''
	standin zlib 'cc_library(name = "zlib", linkopts = ["-lz"], visibility = ["//visibility:public"])'
	standin package_metadata ''
	local p="$H/standins/package_metadata"
	mkdir -p "$p/providers" "$p/rules"
	: >"$p/providers/BUILD.bazel"
	: >"$p/rules/BUILD.bazel"
	cat >"$p/providers/package_metadata_info.bzl" <<'BZL'
"""Offline stand-in: the provider gazelle names, with no content."""
PackageMetadataInfo = provider(doc = "stand-in", fields = [])
BZL
	cat >"$p/rules/package_metadata.bzl" <<'BZL'
"""Offline stand-in: package_metadata() that declares nothing."""
def package_metadata(name, **kwargs):
    native.filegroup(name = name, srcs = [], applicable_licenses = [], visibility = ["//visibility:public"])
BZL
}

# registry_module NAME VERSION SRC: publish SRC as NAME@VERSION.
registry_module() {
	local name=$1 version=$2 src=$3 d="$H/registry/modules/$1"
	mkdir -p "$d/$version"
	sed -E "0,/^module\(/s//module(\n    version = \"$version\",/" "$src/MODULE.bazel" |
		sed -E '/^\s*version = "",$/d' >"$d/$version/MODULE.bazel"
	printf '{"type": "local_path", "path": "%s"}\n' "$src" >"$d/$version/source.json"
	printf '{"versions": ["%s"]}\n' "$version" >"$d/metadata.json"
}

registry() {
	rm -rf "$H/registry"
	mkdir -p "$H/registry"
	printf '{"mirrors": [], "module_base_path": "/"}\n' >"$H/registry/bazel_registry.json"
	registry_module rules_go "$RULES_GO_VERSION" "$H/modules/rules_go"
	registry_module gazelle "$GAZELLE_VERSION" "$H/modules/gazelle"
	# rules_go's own go_sdk.from_file() tag fetches the online list of Go
	# releases: drop it (and the repo it names); the root module uses
	# go_sdk.host().
	python3 - "$H/registry/modules/rules_go/$RULES_GO_VERSION/MODULE.bazel" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r'go_sdk\.from_file\([^)]*\)\n', '', s)
s = re.sub(r'\n\s*"go_default_sdk",', '', s)
open(p, 'w').write(s)
PY
	grep -q 'go_sdk.from_file' "$H/registry/modules/rules_go/$RULES_GO_VERSION/MODULE.bazel" &&
		die "could not drop go_sdk.from_file from rules_go's MODULE.bazel"
	return 0
}

machine_bazelrc() {
	local proxy
	proxy=$(go env GOPROXY)
	mkdir -p "$H/cache"
	cat >"$ROOT/root/.bazelrc" <<RC
# Machine configuration written by toolchains/bazel/bootstrap.sh (offline Bazel).
startup --output_user_root=$H/cache/output
common --registry=file://$H/registry
common --override_module=buildozer=$H/standins/buildozer
common --override_module=protobuf=$H/standins/protobuf
common --override_module=zlib=$H/standins/zlib
common --override_module=apple_support=$H/standins/apple_support
common --override_module=package_metadata=$H/standins/package_metadata
common --override_module=rules_shell=/usr/share/bazel/rules/shell
common --repo_env=GO_REPOSITORY_USE_HOST_CACHE=1
common --repo_env=GOPROXY=$proxy
common --lockfile_mode=off
common --repository_cache=$H/cache/repos
build --disk_cache=$H/cache/disk
# Every test run builds all eight OS images: keep the disk cache bounded
# (collected while the server idles).
build --experimental_disk_cache_gc_max_size=30G
build --nosandbox_debug
RC
}

ensure() {
	mkdir -p "$H"
	step host "v1" host_setup
	step chroot "$CHROOT_PACKAGES" make_chroot
	step ca-certs "$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-16)" ca_certs
	step modules "$RULES_GO_VERSION $GAZELLE_VERSION" modules
	step standins "v1" standins
	step registry "$RULES_GO_VERSION $GAZELLE_VERSION v1" registry
	step bazelrc "$H v5" machine_bazelrc
	local v
	v=$(chroot "$ROOT" dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null || true)
	[[ "$v" == "$BAZEL_VERSION"* ]] || die "chroot Bazel is '$v', want $BAZEL_VERSION (remove $H/stamps/chroot to rebuild)"
}

# run DIR CMD...: run CMD inside the chroot, in a private mount namespace so
# no mount outlives the command (a Bazel server started here keeps its own).
run() {
	local dir=$1
	shift
	[[ "${1:-}" == "--" ]] && shift
	local gomodcache goroot proxy store
	# The local OCI store of base images is shared with the host.
	store="${ICOS_OCI_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/icos/oci}"
	mkdir -p "$store"
	gomodcache=$(go env GOMODCACHE)
	goroot=$(go env GOROOT)
	proxy=$(go env GOPROXY)
	mkdir -p "$gomodcache"
	exec unshare --mount --propagation private -- /bin/bash -c '
		set -e
		root=$1 h=$2 dir=$3 gomodcache=$4 goroot=$5 store=$6; shift 6
		bindto() { mkdir -p "$root$2"; mount --bind "$1" "$root$2"; }
		mount -t proc proc "$root/proc"
		mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"
		mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"
		# A private /tmp first: the binds below may live under /tmp.
		mount -t tmpfs tmpfs "$root/tmp"
		bindto "$h" "$h"
		bindto "$dir" "$dir"
		bindto "$gomodcache" "$gomodcache"
		bindto "$store" "$store"
		# The host apt configuration, read-only: its Debian mirror is where a
		# missing base image is built from (ICOS_APT_ROOT).
		bindto /etc/apt /opt/icos-host/etc/apt
		mount -o remount,bind,ro "$root/opt/icos-host/etc/apt"
		bindto "$goroot" /usr/local/go
		mount -o remount,bind,ro "$root/usr/local/go"
		cwd=$PWD
		case "$cwd/" in "$dir"/*) ;; *) cwd=$dir ;; esac
		exec chroot "$root" /usr/bin/env -C "$cwd" "$@"
	' bash "$ROOT" "$H" "$dir" "$gomodcache" "$goroot" "$store" \
		/usr/bin/env -i HOME=/root USER=root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
		PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		GOPROXY="$proxy" GOMODCACHE="$gomodcache" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
		ICOS_OCI_STORE="$store" ICOS_APT_ROOT=/opt/icos-host ${ICOS_REGISTRIES:+ICOS_REGISTRIES=$ICOS_REGISTRIES} \
		${ICOS_ALLOW_UNPINNED_BASE:+ICOS_ALLOW_UNPINNED_BASE=$ICOS_ALLOW_UNPINNED_BASE} "$@"
}

remove() {
	# Stop every process whose root is the chroot (Bazel servers), then delete.
	local p
	for p in /proc/[0-9]*; do
		if [[ "$(readlink "$p/root" 2>/dev/null)" == "$ROOT" ]]; then
			kill "${p#/proc/}" 2>/dev/null || true
		fi
	done
	sleep 1
	rm -rf "$H"
	log "removed $H"
}

case "${1:-}" in
ensure) ensure ;;
run) shift; run "$@" ;;
remove) remove ;;
*) die "usage: $0 ensure | run DIR -- CMD... | remove" ;;
esac
