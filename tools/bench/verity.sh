#!/usr/bin/env bash
# verity.sh compares `icos verity` with `veritysetup format` on a GuestOS-
# shaped root filesystem image: a sparse 3 GiB file holding BENCH_DATA_MIB
# MiB (default 700) of seeded pseudo-random data (openssl aes-128-ctr over
# zeros) in 10 extents spread over the image, the rest holes. Two layouts:
#
#   hash file    icos verity -o HASH        vs  veritysetup format IMG HASH
#   hash offset  icos verity --hash-offset  vs  veritysetup format on a copy
#                (the data copied, then the tree at 3 GiB, in one file)
#
# The outputs and root hashes must be identical (cmp), else the script fails.
# veritysetup formats in place, so its copy of the image is made beforehand
# (cp --sparse=always, not timed); icos writes the copy itself, and its time
# includes that copy and the fsync of tools/outfile (veritysetup syncs too).
# Each tool runs BENCH_RUNS times (default 2), alternating, with the image in
# the page cache; the best wall time counts. Prints, per layout:
#
#   layout        icos s  icos cpu  veritysetup s  vs cpu  ratio (vs time / icos time)
#
# Needs: go, openssl, veritysetup (cryptsetup-bin), GNU cp/cmp, /usr/bin/time.
# Usage: tools/bench/verity.sh        (from anywhere in the checkout)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data_mib=${BENCH_DATA_MIB:-700}
runs=${BENCH_RUNS:-2}
export PATH="$PATH:/usr/sbin:/sbin"
for tool in go openssl veritysetup cmp /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "verity.sh: $tool not found" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/icos-bench-verity.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$repo" && go build -o "$work/icos" ./tools/cmd/icos)

salt=5eed0123456789abcdef00112233445566778899aabbccddeeff0011223344ff
uuid=6a8e2c5d-1f3b-4c7e-9a0d-2b4f6e8a1c3e
size=$((3 << 30))
img=$work/root.img

# The image: 10 extents of data_mib/10 MiB, one every 300 MiB.
truncate -s "$size" "$img"
ext=$((data_mib / 10))
for i in $(seq 0 9); do
  { openssl enc -aes-128-ctr -nosalt -pass "pass:icos-bench-verity-$i" -pbkdf2 </dev/zero 2>/dev/null || true; } |
    head -c $((ext << 20)) | dd of="$img" bs=1M seek=$((i * 300)) conv=notrunc status=none
done
cat "$img" >/dev/null # into the page cache for both tools

# timed CMD...: runs CMD (its output to $work/stdout), prints "wall_seconds
# cpu_seconds" (cpu = user + system).
timed() {
  /usr/bin/time -f '%e %U %S' -o "$work/time" "$@" >"$work/stdout"
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$work/time"
}
# best "W C" lines: the line with the smallest W.
best() { sort -n | head -1; }

printf '%-12s %8s %9s %14s %7s %6s\n' layout "icos s" "icos cpu" "veritysetup s" "vs cpu" ratio
for layout in file offset; do
  icos_times=() vs_times=()
  for _ in $(seq "$runs"); do
    rm -f "$work/icos.out" "$work/vs.out" "$work/icos.root"
    if [ "$layout" = file ]; then
      icos_times+=("$(timed "$work/icos" verity -i "$img" -o "$work/icos.out" --salt "$salt" --uuid "$uuid" --root-hash-file "$work/icos.root")")
      vs_times+=("$(timed veritysetup format "$img" "$work/vs.out" --salt "$salt" --uuid "$uuid")")
    else
      icos_times+=("$(timed "$work/icos" verity -i "$img" -o "$work/icos.out" --hash-offset "$size" --salt "$salt" --uuid "$uuid" --root-hash-file "$work/icos.root")")
      cp --sparse=always "$img" "$work/vs.out"
      vs_times+=("$(timed veritysetup format "$work/vs.out" "$work/vs.out" --hash-offset "$size" --data-blocks $((size / 4096)) --salt "$salt" --uuid "$uuid")")
    fi
    vs_root=$(awk '/^Root hash:/ {print $3}' "$work/stdout")
    cmp "$work/icos.out" "$work/vs.out" || { echo "verity.sh: $layout: outputs differ" >&2; exit 1; }
    [ "$(cat "$work/icos.root")" = "$vs_root" ] || { echo "verity.sh: $layout: root hashes differ" >&2; exit 1; }
  done
  read -r it ic < <(printf '%s\n' "${icos_times[@]}" | best)
  read -r vt vc < <(printf '%s\n' "${vs_times[@]}" | best)
  printf '%-12s %8s %9s %14s %7s %5sx\n' "$layout" "$it" "$ic" "$vt" "$vc" "$(awk -v a="$vt" -v b="$it" 'BEGIN{printf "%.1f", a/b}')"
done
echo "(3 GiB image, $data_mib MiB of data; root hash $(cat "$work/icos.root"))"
