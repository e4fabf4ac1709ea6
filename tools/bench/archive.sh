#!/usr/bin/env bash
# archive.sh compares the archive layer of icos with the tools it replaces,
# on the same input, and prints one line per comparison:
#
#   normalize  ours 1.23s  tar --sort=name 0.98s  ratio 1.26
#
# ratio = our time / their time (below 1 means we are faster); each time is
# the best of BENCH_RUNS (default 3) runs with the inputs in the page cache.
# It also prints the peak memory (RSS) of our commands and the output sizes.
#
# Inputs are made in a temporary directory: a tar of BENCH_SRC (default
# /usr/share/doc) and a sparse disk image of BENCH_DISK_MIB MiB (default
# 1024) holding that tar and 32 MiB of random bytes. Needs go, GNU tar, zstd.
#
# Usage: tools/bench/archive.sh        (from anywhere in the checkout)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src=${BENCH_SRC:-/usr/share/doc}
disk_mib=${BENCH_DISK_MIB:-1024}
work=$(mktemp -d "${TMPDIR:-/tmp}/icos-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

for tool in go tar zstd; do
  command -v "$tool" >/dev/null || { echo "archive.sh: $tool not found" >&2; exit 1; }
done

# elapsed CMD...: run CMD, print its wall time in seconds (2 decimals);
# its peak RSS in KiB goes to $work/rss (read it with rss).
elapsed() {
  local t0 t1
  echo - >"$work/rss"
  t0=$(date +%s.%N)
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f %M -o "$work/rss" "$@"
  else
    "$@"
  fi
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
rss() { tail -n1 "$work/rss"; }
# best CMD...: run CMD $runs times (BENCH_RUNS, default 3), print the
# shortest wall time; $work/rss then holds the last run's peak RSS.
runs=${BENCH_RUNS:-3}
best() {
  local b="" t i
  for ((i = 0; i < runs; i++)); do
    t=$(elapsed "$@")
    if [[ -z $b ]] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then b=$t; fi
  done
  echo "$b"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
mib() { awk -v n="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MiB", n / 1048576 }'; }

echo "building icos..." >&2
(cd "$repo" && go build -o "$work/icos" ./tools/cmd/icos)

echo "making inputs in $work..." >&2
tar -cf "$work/in.tar" -C "$(dirname "$src")" "$(basename "$src")"
mkdir "$work/tree"
tar -xf "$work/in.tar" -C "$work/tree"
truncate -s "${disk_mib}M" "$work/disk.img"
dd if="$work/in.tar" of="$work/disk.img" bs=1M seek=64 conv=notrunc status=none
dd if=/dev/urandom of="$work/disk.img" bs=1M count=32 seek=$((disk_mib / 2)) conv=notrunc status=none
sync
# Warm the page cache so the first command measured is not penalized.
cat "$work/in.tar" "$work/disk.img" >/dev/null
echo "input: $(mib "$work/in.tar") tar of $src; ${disk_mib} MiB disk image with $(du -k "$work/disk.img" | cut -f1) KiB allocated" >&2

# normalize: ours reads the tar; GNU tar builds the same normal form from the
# extracted tree with the usual reproducible-tar flags. Our -o FILE fsyncs
# the output before renaming it (tools/outfile), GNU tar does not: the
# second line writes to standard output to compare like with like.
ours=$(best "$work/icos" tar normalize -i "$work/in.tar" -o "$work/ours.tar"); ours_rss=$(rss)
ours_stdout=$(best bash -c '"$1" tar normalize -i "$2" -o - >"$3"' _ "$work/icos" "$work/in.tar" "$work/ours2.tar")
theirs=$(best tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -cf "$work/theirs.tar" -C "$work/tree" .)
printf 'normalize  ours %ss  tar --sort=name %ss  ratio %s  (ours: %s KiB RSS, %s)\n' \
  "$ours" "$theirs" "$(ratio "$ours" "$theirs")" "$ours_rss" "$(mib "$work/ours.tar")"
printf 'normalize  ours -o - %ss  tar --sort=name %ss  ratio %s  (no fsync on either side)\n' \
  "$ours_stdout" "$theirs" "$(ratio "$ours_stdout" "$theirs")"
cmp -s "$work/ours.tar" "$work/ours2.tar" || echo "WARNING: -o FILE and -o - outputs differ" >&2

# pack: ours scans the image for zero blocks, writes a sparse tar and
# compresses it; compared with zstd -T0 on the raw image and with GNU tar's
# sparse mode piped into zstd -T0 (the same kind of output as ours), all
# at level 3.
ours=$(best "$work/icos" pack --level 3 --output "$work/disk-img.tar.zst" "$work/disk.img"); ours_rss=$(rss)
zraw=$(best zstd -q -3 -T0 -f "$work/disk.img" -o "$work/disk.img.zst")
tz=$(best bash -c 'tar -C "$1" --sparse --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - disk.img | zstd -q -3 -T0 -f -o "$1/gnu.tar.zst"' _ "$work")
printf 'pack       ours %ss  zstd -T0 %ss  ratio %s  (ours: %s KiB RSS, %s; zstd: %s)\n' \
  "$ours" "$zraw" "$(ratio "$ours" "$zraw")" "$ours_rss" "$(mib "$work/disk-img.tar.zst")" "$(mib "$work/disk.img.zst")"
printf 'pack       ours %ss  tar --sparse | zstd -T0 %ss  ratio %s  (theirs: %s)\n' \
  "$ours" "$tz" "$(ratio "$ours" "$tz")" "$(mib "$work/gnu.tar.zst")"
