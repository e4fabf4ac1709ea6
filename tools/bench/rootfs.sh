#!/usr/bin/env bash
# rootfs.sh measures the flatten step on a real base image: `icos rootfs`
# (our flattener, writing the normalized tar to a file) and the Go
# benchmarks BenchmarkFlatten / BenchmarkMutateExtract of tools/rootfs
# (ours vs go-containerregistry's mutate.Extract, both writing to
# io.Discard) on the same image, once each. Prints size, entries, files and
# seconds.
#
# Usage: tools/bench/rootfs.sh [DIGEST]
#   DIGEST defaults to the image of ic-os/guestos/context/base.lock.json,
#   which must be in the OCI store (icos base fetch / icos base build).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
digest=${1:-$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' ic-os/guestos/context/base.lock.json | head -n1)}
[ -n "$digest" ] || { echo "rootfs.sh: no digest" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/icos-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

go build -o "$work/icos" ./tools/cmd/icos
start=$(date +%s.%N)
"$work/icos" rootfs --image "$digest" --output "$work/rootfs.tar" --mtime 0 --exclude 'run/*' --tmpdir "$work"
end=$(date +%s.%N)
size=$(stat -c %s "$work/rootfs.tar")
entries=$(tar -tf "$work/rootfs.tar" | wc -l)
printf 'icos rootfs  %s: tar %d bytes, %d entries, %.2fs\n' "$digest" "$size" "$entries" "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')"

ICOS_BENCH_IMAGE=$digest go test -run '^$' -bench 'BenchmarkFlatten$|BenchmarkMutateExtract$' \
  -benchtime 1x -benchmem ./tools/rootfs | grep -E '^Benchmark'
