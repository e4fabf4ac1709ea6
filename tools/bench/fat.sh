#!/usr/bin/env bash
# Compares `icos vfat` with mkfs.fat + mcopy -s writing the same content into
# a 100 MiB FAT image (the ESP size). Prints both times and their ratio.
# Usage: tools/bench/fat.sh [content MiB, default 80]
# Needs: go, dosfstools (mkfs.fat, fsck.vfat), mtools (mcopy).
set -euo pipefail
mib=${1:-80}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C.UTF-8

(cd "$root" && go build -o "$work/icos" ./tools/cmd/icos)
mkdir -p "$work/tree/EFI/BOOT" "$work/tree/small"
big=$(( mib * 1024 - 1000 ))       # KiB in big files; ~1000 KiB in small ones
for i in $(seq 1 16); do
  head -c $(( big / 16 ))K /dev/urandom >"$work/tree/EFI/BOOT/big file $i.bin"
done
for i in $(seq 1 200); do
  head -c 5000 /dev/urandom >"$work/tree/small/file number $i.txt"
done
tar -C "$work/tree" -cf "$work/tree.tar" .
bytes=$(du -sb --apparent-size "$work/tree" | cut -f1)
sync

now() { date +%s.%N; }
# Best of 3 runs each. icos fsyncs its output before renaming it into place,
# so the mkfs.fat + mcopy run ends with `sync FILE` to flush the same data.
ti=999; tm=999
for run in 1 2 3; do
  rm -f "$work/icos.img" "$work/mkfs.img"
  t0=$(now)
  "$work/icos" vfat -o "$work/icos.img" --size 100M --label ESP --serial 0x1234 -i "$work/tree.tar"
  t1=$(now)
  truncate -s 100M "$work/mkfs.img"
  mkfs.fat -n ESP -i 1234 "$work/mkfs.img" >/dev/null
  mcopy -s -i "$work/mkfs.img" "$work/tree/"* ::/
  sync "$work/mkfs.img"
  t2=$(now)
  ti=$(awk -v a="$t0" -v b="$t1" -v c="$ti" 'BEGIN { d = b - a; print (d < c ? d : c) }')
  tm=$(awk -v a="$t1" -v b="$t2" -v c="$tm" 'BEGIN { d = b - a; print (d < c ? d : c) }')
done

/usr/sbin/fsck.vfat -n "$work/icos.img" >/dev/null
/usr/sbin/fsck.vfat -n "$work/mkfs.img" >/dev/null
awk -v b="$bytes" -v ti="$ti" -v tm="$tm" 'BEGIN {
  printf "content: %.1f MiB\n", b / 1048576
  printf "icos vfat (from tar):    %6.3f s  %7.1f MB/s\n", ti, b / ti / 1e6
  printf "mkfs.fat + mcopy -s:     %6.3f s  %7.1f MB/s\n", tm, b / tm / 1e6
  printf "ratio (mkfs+mcopy / icos): %.2fx\n", tm / ti
}'
