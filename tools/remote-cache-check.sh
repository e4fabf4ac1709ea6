#!/usr/bin/env bash
# Remote-cache check: starts the local HTTP cache (tools/remote-cache.sh),
# wipes the output base (bazel clean --expunge) and builds TARGETS with
# --config=cache to fill the cache, wipes it again, rebuilds, and reports how
# many actions came from the remote cache. The disk cache is off throughout.
# Fails when any action had to run again.
#
#   tools/remote-cache-check.sh [TARGET...]   (default: the rules test image)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
targets=("$@")
((${#targets[@]})) || targets=(//rules/tests:disk-img //rules/tests:update-img)
bazel=tools/bazel
flags=(--config=cache --disk_cache=)

tools/remote-cache.sh start
trap 'tools/remote-cache.sh stop >/dev/null' EXIT
t0=$SECONDS
$bazel clean --expunge
$bazel build "${flags[@]}" "${targets[@]}"
t1=$SECONDS
$bazel clean --expunge
log=$(mktemp)
$bazel build "${flags[@]}" "${targets[@]}" 2>&1 | tee "$log"
t2=$SECONDS
summary=$(grep -E 'INFO: [0-9]+ processes?:' "$log" | tail -n1)
rm -f "$log"
hits=$(sed -n 's/.* \([0-9][0-9]*\) remote cache hit.*/\1/p' <<<"$summary")
# Actions that ran instead of coming from the cache (internal ones never run).
executed=$({ grep -oE '[0-9]+ (processwrapper-sandbox|linux-sandbox|local|sandbox|worker)' <<<"$summary" || true; } |
	awk '{s+=$1} END {print s+0}')
echo "remote-cache-check: first build $((t1 - t0)) s; after clean --expunge $((t2 - t1)) s; ${hits:-0} remote cache hits, $executed actions executed ($summary)"
((${hits:-0} > 0 && executed == 0))
