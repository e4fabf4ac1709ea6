#!/usr/bin/env bash
# Base-image reproduction check (run by CI on every run): rebuilds one
# locked base image from its lock, in the pinned builder, into an empty OCI
# store, and requires exactly the digest the lock pins. Without an argument
# it rotates through the eight locks by UTC day, so every lock is rebuilt
# within eight runs; builds run on the host (the Bazel tests build missing
# bases inside the offline-Bazel chroot, so CI exercises both).
#
#   tools/base-repro-check.sh [LOCK]   e.g. ic-os/hostos/context/base-dev.lock.json
#
# Needs root and mmdebstrap (it makes the builder when ~/.cache/icos/builder
# does not hold it yet). Prints the lock, the digest and the time taken.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin
locks=(ic-os/*/context/base.lock.json ic-os/*/context/base-dev.lock.json)
lock=${1:-}
if [[ -z "$lock" ]]; then
	day=$(($(date -u +%s) / 86400))
	lock=${locks[day % ${#locks[@]}]}
fi
[[ -f "$lock" ]] || { echo "base-repro-check: no lock $lock" >&2; exit 2; }
store=$(mktemp -d)
tmp=$(mktemp -d -p /var/tmp)
trap 'rm -rf "$store" "$tmp"' EXIT
bin="$tmp/icos"
go build -trimpath -o "$bin" ./tools/cmd/icos
echo "base-repro-check: rebuilding $lock in an empty store ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["packages"]))' "$lock") packages)"
t0=$SECONDS
"$bin" base verify --lock "$lock" --store "$store" --tmpdir "$tmp"
echo "base-repro-check: $lock reproduced its pin in $((SECONDS - t0)) s"
