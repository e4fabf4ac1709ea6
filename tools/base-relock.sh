#!/usr/bin/env bash
# Re-locks base images (and the boot loader) to the versions the Debian
# archive serves now.
#
#   tools/base-relock.sh             the weekly job: bump the builder lock,
#                                    then all eight base locks, then the
#                                    bootloader lock
#   tools/base-relock.sh --expired   only the locks `icos base check` finds
#                                    expired (all eight when the builder's is;
#                                    the bootloader lock only when its own is)
#
# Debian's archive lists only the newest version of a package in a suite,
# and no snapshot archive is reachable here, so a security update to any
# locked package (the kernel, every few weeks) makes the locks that hold it
# unbuildable. CI runs the --expired form in its own clone before it builds
# anything, prints what it re-locked and goes on with the new pins; commit
# the weekly job's result to renew the pins on main. Needs root and
# mmdebstrap (as icos base bump does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin
mode=${1:-all}
case $mode in all | --expired) ;; *) echo "usage: $0 [--expired]" >&2; exit 2 ;; esac
tmp=$(mktemp -d -p /var/tmp)
trap 'rm -rf "$tmp"' EXIT
bin="$tmp/icos"
go build -trimpath -o "$bin" ./tools/cmd/icos
builder=toolchains/base-builder/builder.lock.json
boot=ic-os/bootloader/bootloader.lock.json
locks=(ic-os/*/context/base.lock.json ic-os/*/context/base-dev.lock.json)

bump_builder=1
bump_boot=1
if [[ $mode == --expired ]]; then
	rc=0
	"$bin" base check --tmpdir "$tmp" --expired "$tmp/expired" || rc=$?
	case $rc in
	0) echo "base-relock: every lock is served by the archive"; exit 0 ;;
	3) ;;
	*) exit "$rc" ;;
	esac
	grep -qxF "$boot" "$tmp/expired" || bump_boot=0
	if grep -qxF "$builder" "$tmp/expired"; then
		echo "base-relock: the builder lock expired: re-locking it and all eight base locks"
	else
		bump_builder=0
		mapfile -t locks < <(grep -vxF "$boot" "$tmp/expired" || true)
	fi
fi
t0=$SECONDS
if ((bump_builder)); then
	"$bin" base builder bump --tmpdir "$tmp"
fi
for lock in "${locks[@]}"; do
	os=$(basename "$(dirname "$(dirname "$lock")")")
	variant=prod
	[[ $(basename "$lock") == base-dev.lock.json ]] && variant=dev
	t1=$SECONDS
	# bump prints the new digest on stdout, its progress on stderr.
	digest=$("$bin" base bump --no-check --os "$os" --variant "$variant" --tmpdir "$tmp" 2> "$tmp/bump.log") || {
		cat "$tmp/bump.log" >&2
		exit 1
	}
	echo "base-relock: $lock -> $digest ($((SECONDS - t1)) s)"
done
echo "base-relock: re-locked ${#locks[@]} base locks in $((SECONDS - t0)) s"
if ((bump_boot)); then
	# bump prints one line per package (name, version, what changed).
	t1=$SECONDS
	"$bin" bootloader bump --quiet --lock "$boot" --tmpdir "$tmp" | sed "s|^|base-relock: $boot: |"
	echo "base-relock: re-locked $boot ($((SECONDS - t1)) s)"
fi
git --no-pager diff --stat -- "$builder" "${locks[@]}" "$boot"
if [[ $mode == --expired ]]; then
	echo "base-relock: NOTE: the pins committed on this branch had expired; this run uses the pins above. Run tools/base-relock.sh and commit the locks to renew them."
fi
