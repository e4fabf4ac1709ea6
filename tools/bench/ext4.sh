#!/usr/bin/env bash
# Compare `icos ext4` (tar stream -> image) with `mke2fs -t ext4 -d DIR` on
#   (a) a tar of this host's /usr/share (~600 MB, 40k+ files), and
#   (b) 20,000 small files in one directory.
# Both get the same size, UUID, hash seed and fake time; both images are
# checked with e2fsck -fn. mke2fs needs the tar extracted first; that
# extraction is not timed. Prints wall and CPU (user+system) seconds, peak
# RSS and the wall-time ratio. icos's wall time includes the fsync that
# tools/outfile does before renaming the image into place.
#
# Usage: tools/bench/ext4.sh [WORKDIR]   (default: a new dir under /tmp)
# Needs: go, e2fsprogs, GNU tar, /usr/bin/time (Debian package "time").
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d /tmp/ext4-bench.XXXXXX)}
mkdir -p "$work"
export PATH="$PATH:/usr/sbin:/sbin"
uuid=6a8e2c5d-1f3b-4c7e-9a0d-2b4f6e8a1c3e
seed=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
mtime=1700000000

echo "workdir: $work"
(cd "$root" && go build -o "$work/icos" ./tools/cmd/icos)

# (a) /usr/share, as a tar and as an extracted tree for mke2fs.
if [ ! -f "$work/share.tar" ]; then
	tar -C / --sort=name -cf "$work/share.tar" usr/share
	mkdir -p "$work/share"
	tar -C "$work/share" -xf "$work/share.tar"
fi
# (b) 20,000 files in one directory.
if [ ! -f "$work/flat.tar" ]; then
	mkdir -p "$work/flat/d"
	for i in $(seq -w 1 20000); do
		printf 'file %s\n' "$i" >"$work/flat/d/file-$i.txt"
	done
	tar -C "$work/flat" --sort=name -cf "$work/flat.tar" .
fi

# timed LABEL CMD...: runs CMD under /usr/bin/time, prints
# "wall_seconds rss_kb cpu_seconds" (cpu = user + system).
timed() {
	local out="$work/time.$1"
	shift
	/usr/bin/time -f '%e %M %U %S' -o "$out" "$@" >/dev/null
	awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}' "$out"
}

check() {
	e2fsck -fn "$1" >/dev/null 2>&1 || { echo "e2fsck -fn $1 FAILED" >&2; e2fsck -fn "$1" | tail -20 >&2; exit 1; }
}

printf '%-32s %8s %9s %8s %9s %9s %9s %7s\n' case "icos s" "icos cpu" "mke2fs s" "mke2fs cpu" "icos RSS" "mke2fs RSS" ratio
for c in "share:3G:share.tar:share" "flat:1G:flat.tar:flat"; do
	IFS=: read -r name size tarball dir <<<"$c"
	rm -f "$work/$name.icos.img" "$work/$name.mke2fs.img"
	read -r it irss icpu < <(timed "$name.icos" "$work/icos" ext4 --input "$work/$tarball" \
		--output "$work/$name.icos.img" --size "$size" --uuid "$uuid" --hash-seed "$seed" --mtime "$mtime")
	read -r mt mrss mcpu < <(timed "$name.mke2fs" env E2FSPROGS_FAKE_TIME=$mtime mke2fs -q -F -t ext4 -b 4096 -I 256 \
		-U "$uuid" -E "hash_seed=$seed" -d "$work/$dir" "$work/$name.mke2fs.img" "$size")
	check "$work/$name.icos.img"
	check "$work/$name.mke2fs.img"
	files=$(tar -tf "$work/$tarball" | wc -l)
	mb=$(($(stat -c %s "$work/$tarball") / 1048576))
	printf '%-32s %8s %9s %8s %10s %7sMB %8sMB %6sx\n' "$name ($files entries, ${mb} MB)" "$it" "$icpu" "$mt" "$mcpu" \
		"$((irss / 1024))" "$((mrss / 1024))" "$(awk -v a="$mt" -v b="$it" 'BEGIN{printf "%.1f", a/b}')"
done
