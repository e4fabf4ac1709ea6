#!/usr/bin/env bash
# disk.sh compares `icos disk` with dd conv=sparse on the same copies: a
# 50 GiB GuestOS-shaped GPT disk (esp, grub, config 100M, A/B boot 1G,
# root 10G, var 10G) receiving BENCH_DATA_MIB MiB (default 2048) of partition
# images: seeded pseudo-random data (openssl aes-128-ctr over zeros), with a
# 64 MiB zero run inside A_root. It prints one line per tool and the ratio:
#
#   icos disk           4.10s   500 MB/s   1984 MiB allocated
#   dd conv=sparse      6.20s   330 MB/s   1984 MiB allocated
#   ratio (dd time / icos time) 1.51
#
# Both write a fresh file and fsync it; dd gets a table-less disk (it only
# does the copies), icos also writes the GPT. Each tool runs BENCH_RUNS times
# (default 2), alternating, and the best time counts. Needs go, openssl, GNU dd, du.
#
# Usage: tools/bench/disk.sh        (from anywhere in the checkout)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data_mib=${BENCH_DATA_MIB:-2048}
work=$(mktemp -d "${TMPDIR:-/tmp}/icos-bench-disk.XXXXXX")
trap 'rm -rf "$work"' EXIT

for tool in go openssl dd du; do
  command -v "$tool" >/dev/null || { echo "disk.sh: $tool not found" >&2; exit 1; }
done

(cd "$repo" && go build -o "$work/icos" ./tools/cmd/icos)

# rand SEED MIB: MIB MiB of reproducible pseudo-random bytes on stdout.
rand() {
  # openssl dies of SIGPIPE when head has enough: not an error.
  { openssl enc -aes-128-ctr -nosalt -pass "pass:icos-bench-$1" -pbkdf2 </dev/zero 2>/dev/null || true; } |
    head -c $(($2 << 20))
}

cat >"$work/partitions.csv" <<'CSV'
# name,start,size,type,uuid
esp   ,, 100M, U,
grub  ,, 100M, L,
config,, 100M, L,
A_boot,,   1G, L,
A_root,,  10G, L,
A_var ,,  10G, L,
B_boot,,   1G, L,
B_root,,  10G, L,
B_var ,,  10G, L,
CSV

# Image sizes in MiB; A_root takes what is left of data_mib.
declare -A mib=([esp]=64 [grub]=48 [config]=16 [A_boot]=320)
rest=$((data_mib - 64 - 48 - 16 - 320))
((rest > 64)) || { echo "disk.sh: BENCH_DATA_MIB must exceed 512" >&2; exit 1; }
seed=0
for name in esp grub config A_boot; do
  seed=$((seed + 1))
  rand "$seed" "${mib[$name]}" >"$work/$name.img"
done
{ rand 5 $(((rest - 64) / 2)); head -c $((64 << 20)) /dev/zero; rand 6 $(((rest - 64) - (rest - 64) / 2)); } >"$work/A_root.img"
mib[A_root]=$rest
total=$(( (64 + 48 + 16 + 320 + rest) << 20 ))

# Partition starts in MiB, as packed by icos (1 MiB, then back to back).
declare -A start=([esp]=1 [grub]=101 [config]=201 [A_boot]=301 [A_root]=1325)

sync # the fresh images must not be written back during the timed runs

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
minof() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
report() { # LABEL SECONDS FILE
  awk -v l="$1" -v s="$2" -v b="$total" -v a="$(du -k "$3" | cut -f1)" \
    'BEGIN { printf "%-18s %6.2fs %6.0f MB/s %6d MiB allocated\n", l, s, b / s / 1e6, a / 1024 }'
}

# Alternate the two tools BENCH_RUNS times (default 2) and keep the best
# time of each: the machine is shared and the first run warms the caches.
icos_s= dd_s=
for run in $(seq "${BENCH_RUNS:-2}"); do
  rm -f "$work/icos.img" "$work/dd.img"
  t0=$(now)
  "$work/icos" disk --partitions "$work/partitions.csv" --output "$work/icos.img" --size 50G \
    --image esp="$work/esp.img" --image grub="$work/grub.img" --image config="$work/config.img" \
    --image A_boot="$work/A_boot.img" --image A_root="$work/A_root.img"
  icos_s=$(minof "$icos_s" "$(secs "$t0" "$(now)")")

  t0=$(now)
  truncate -s 50G "$work/dd.img"
  for name in esp grub config A_boot A_root; do
    dd if="$work/$name.img" of="$work/dd.img" bs=1M seek="${start[$name]}" conv=sparse,notrunc,fsync status=none
  done
  dd_s=$(minof "$dd_s" "$(secs "$t0" "$(now)")")
done

report "icos disk" "$icos_s" "$work/icos.img"
report "dd conv=sparse" "$dd_s" "$work/dd.img"
awk -v i="$icos_s" -v d="$dd_s" 'BEGIN { printf "ratio (dd time / icos time) %.2f\n", d / i }'
for name in esp grub config A_boot A_root; do
  cmp -n $((mib[$name] << 20)) -i $((start[$name] << 20)):0 "$work/icos.img" "$work/$name.img" ||
    { echo "disk.sh: partition $name differs from its image" >&2; exit 1; }
done
