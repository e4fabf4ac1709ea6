#!/usr/bin/env bash
# Checks the outputs of one IC-OS image (icos_build's image_test) with
# Debian's tools, never with our own readers:
#   sha256sum -c and zstd -t on the archives; GNU tar unpacks the sparse
#   disk.img; sgdisk -v checks the GPT; each partition is cut out at its
#   sfdisk offsets and checked with fsck.vfat -n or e2fsck -fn; an LVM
#   physical volume is read with pvck and its volumes cut out at the
#   extents of its metadata; debugfs and mtype read files back (kernel,
#   initrd, systemd, hostname, version.txt, root password); partitions and
#   volumes without an image must be empty; update-img.tar.zst must hold
#   boot.img and root.img equal to the disk's and VERSION.TXT.
#
# Flags (set by ic-os/defs.bzl):
#   --os NAME --mode prod|dev --disk-size SIZE --hostname NAME
#   --vfat P,P  --ext4 P,P  --lvm PART=LV,LV  --boot P --root P
#   --data NAME=FILE (a file of the data partition and what it must equal)
#   --dev-hash HASH (root's /etc/shadow hash in dev images)
# Other arguments: disk-img.tar.zst, update-img.tar.zst, version.txt and
# their .sha256 files, in any order.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
fail() { echo "FAIL: $*" >&2; exit 1; }
comma() { tr ',' ' ' <<<"$1"; }

vfat="" ext4="" lvm="" data=() update_arc=""
while (($#)); do
	case "$1" in
	--os) os=$2 ;;
	--mode) mode=$2 ;;
	--disk-size) disk_size=$(numfmt --from=iec "$2") ;;
	--hostname) hostname=$2 ;;
	--vfat) vfat=$2 ;;
	--ext4) ext4=$2 ;;
	--lvm) lvm=$2 ;;
	--boot) boot=$2 ;;
	--root) root=$2 ;;
	--data) data+=("$2") ;;
	--dev-hash) dev_hash=$2 ;;
	*.sha256) shift; continue ;;
	*disk-img.tar.zst) disk_arc=$1; shift; continue ;;
	*update-img.tar.zst) update_arc=$1; shift; continue ;;
	*version.txt) version_txt=$1; shift; continue ;;
	*) fail "unknown argument $1" ;;
	esac
	shift 2
done
: "${os:?} ${mode:?} ${disk_size:?} ${hostname:?} ${boot:?} ${root:?} ${disk_arc:?} ${version_txt:?} ${dev_hash:?}"
w=${TEST_TMPDIR:-$(mktemp -d)}
mkdir -p "$w/disk" "$w/p" "$w/upd"

for arc in "$disk_arc" ${update_arc:+"$update_arc"}; do
	(cd "$(dirname "$arc")" && sha256sum -c --quiet "$(basename "$arc").sha256") || fail "$(basename "$arc"): checksum"
	zstd -q -t <"$arc" || fail "$(basename "$arc"): zstd -t"
done
tar --zstd -xf "$disk_arc" -C "$w/disk"
disk=$w/disk/disk.img
[[ -f $disk ]] || fail "disk-img.tar.zst has no disk.img: $(tar --zstd -tf "$disk_arc")"
[[ $(stat -c %s "$disk") == "$disk_size" ]] || fail "disk.img is $(stat -c %s "$disk") bytes, want $disk_size"
alloc=$(($(stat -c %b "$disk") * 512))
((alloc < disk_size / 2)) || fail "disk.img allocates $alloc of $disk_size bytes: not sparse"
sgdisk -v "$disk" | grep -q "No problems found" || fail "sgdisk -v: $(sgdisk -v "$disk")"

# slice NAME FILE OFFSET SIZE: copy a byte range of FILE to $w/p/NAME,
# skipping holes (SEEK_DATA/SEEK_HOLE; dd would read GiBs of zeros).
slice() {
	python3 - "$2" "$w/p/$1" "$3" "$4" <<'PY'
import os, sys
src, dst, off, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fi = os.open(src, os.O_RDONLY)
fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fo, n)
pos, end = off, off + n
while pos < end:
    try:
        data = os.lseek(fi, pos, os.SEEK_DATA)
    except OSError:  # ENXIO: only a hole follows
        break
    if data >= end:
        break
    hole = min(os.lseek(fi, data, os.SEEK_HOLE), end)
    while data < hole:
        buf = os.pread(fi, min(1 << 20, hole - data), data)
        os.pwrite(fo, buf, data - off)
        data += len(buf)
    pos = hole
os.close(fo)
PY
}
# empty FILE OFFSET: the first MiB at OFFSET is zero (no filesystem or
# volume signature; the rest is a hole in an image we made).
empty() {
	cmp -s -n 1048576 <(dd if="$1" bs=1M iflag=skip_bytes skip="$2" count=1 status=none) /dev/zero
}
checkfs() { # checkfs NAME: fsck the cut-out filesystem NAME by its kind
	if [[ ,$vfat, == *,$1,* ]]; then
		fsck.vfat -n "$w/p/$1" >/dev/null || fail "fsck.vfat -n $1: $(fsck.vfat -n "$w/p/$1" 2>&1)"
	else
		e2fsck -fn "$w/p/$1" >/dev/null 2>&1 || fail "e2fsck -fn $1: $(e2fsck -fn "$w/p/$1" 2>&1)"
	fi
	checked+=("$1")
}

checked=()
while read -r name st sz; do
	off=$((st * 512)) len=$((sz * 512))
	if [[ ,$vfat,$ext4, == *,$name,* ]]; then
		slice "$name" "$disk" "$off" "$len"
		checkfs "$name"
	elif [[ $lvm == "$name="* ]]; then
		slice "$name.head" "$disk" "$off" 1048576
		pvck --dump metadata "$w/p/$name.head" >"$w/$name.meta" 2>/dev/null || fail "pvck --dump metadata $name"
		# name extent_size pe_start first_pe extents, from the metadata text.
		awk '
			/^extent_size = / { es = $3 }
			/^pe_start = / { ps = $3 }
			/^logical_volumes \{/ { inlv = 1; next }
			inlv && /^[A-Za-z0-9_.+-]+ \{$/ && depth == 0 { lv = $1 }
			inlv && /\{$/ { depth++ }
			inlv && /^\}/ { depth--; if (depth < 0) inlv = 0 }
			inlv && /^segment_count = / && $3 != 1 { print "ERROR " lv " has " $3 " segments"; exit }
			inlv && /^extent_count = / { n[lv] = $3 }
			inlv && /^"pv0", / { pe[lv] = $2; order[++k] = lv }
			END { for (i = 1; i <= k; i++) print order[i], es, ps, pe[order[i]], n[order[i]] }
		' "$w/$name.meta" >"$w/$name.lvs"
		grep -q ERROR "$w/$name.lvs" && fail "$name: $(cat "$w/$name.lvs")"
		[[ -s $w/$name.lvs ]] || fail "$name: no logical volumes in: $(cat "$w/$name.meta")"
		lvs_with_fs=${lvm#*=}
		while read -r lv es ps pe n; do
			lv_off=$((off + ps * 512 + pe * es * 512)) lv_len=$((n * es * 512))
			if [[ ,$lvs_with_fs, == *,$lv,* ]]; then
				slice "$lv" "$disk" "$lv_off" "$lv_len"
				checkfs "$lv"
			else
				empty "$disk" "$lv_off" || fail "logical volume $lv of $name is not empty"
			fi
		done <"$w/$name.lvs"
	else
		empty "$disk" "$off" || fail "partition $name has no image but is not empty"
	fi
done < <(sfdisk -d "$disk" | sed -n 's/.*start= *\([0-9]*\), size= *\([0-9]*\),.*name="\([^"]*\)".*/\3 \1 \2/p')
for want in $(comma "$vfat,$ext4,${lvm#*=}"); do
	[[ " ${checked[*]} " == *" $want "* ]] || fail "no partition or volume $want in the disk"
done

# The grub partition, the boot and root filesystems.
mtype -i "$w/p/grub" ::/grub.cfg | grep -q 'dfinity.system=' || fail "grub.cfg not in the grub partition"
[[ $(mtype -i "$w/p/grub" ::/grubenv | wc -c) == 1024 ]] || fail "grubenv is not 1024 bytes"
rd() { debugfs -R "$2" "$w/p/$1" 2>/dev/null; }
[[ $(rd "$boot" 'cat /version.txt') == "$(cat "$version_txt")" ]] || fail "$boot: /version.txt is not $(cat "$version_txt")"
rd "$boot" 'ls /' | grep -q 'vmlinuz-' || fail "$boot: no kernel: $(rd "$boot" 'ls /')"
rd "$boot" 'ls /' | grep -q 'initrd.img-' || fail "$boot: no initrd: $(rd "$boot" 'ls /')"
[[ $(rd "$root" 'cat /etc/hostname') == "$hostname" ]] || fail "$root: /etc/hostname is not $hostname"
rd "$root" 'stat /usr/lib/systemd/systemd' | grep -q 'Type: regular' || fail "$root: no /usr/lib/systemd/systemd"
rd "$root" 'ls /boot' | grep -q vmlinuz && fail "$root: /boot is not empty (belongs to $boot)"
root_hash=$(rd "$root" 'cat /etc/shadow' | awk -F: '$1 == "root" { print $2 }')
if [[ $mode == dev ]]; then
	[[ $root_hash == "$dev_hash" ]] || fail "$root: dev image without the dev root password (hash $root_hash)"
else
	[[ $root_hash == "$dev_hash" ]] && fail "$root: prod image has the dev root password"
	[[ $root_hash == [\*\!]* ]] || fail "$root: prod root account is not locked (hash $root_hash)"
fi
for d in "${data[@]}"; do
	name=${d%%=*} file=${d#*=}
	rd data "dump /$name $w/data-file" >/dev/null
	cmp -s "$w/data-file" "$file" || fail "data partition: /$name differs from $file"
done

if [[ -n $update_arc ]]; then
	tar --zstd -xf "$update_arc" -C "$w/upd"
	[[ "$(cd "$w/upd" && ls | sort | tr '\n' ' ')" == "VERSION.TXT boot.img root.img " ]] || fail "update-img holds: $(ls "$w/upd")"
	cmp -s "$w/upd/VERSION.TXT" "$version_txt" || fail "update-img VERSION.TXT differs from version.txt"
	cmp -s -n "$(stat -c %s "$w/upd/boot.img")" "$w/upd/boot.img" "$w/p/$boot" || fail "update-img boot.img differs from $boot"
	cmp -s -n "$(stat -c %s "$w/upd/root.img")" "$w/upd/root.img" "$w/p/$root" || fail "update-img root.img differs from $root"
fi
echo "PASS: $os $mode: ${checked[*]} check out; disk.img $((disk_size >> 20)) MiB, $((alloc >> 20)) MiB allocated"
