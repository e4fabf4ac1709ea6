#!/usr/bin/env bash
# Checks the outputs of the icos_build test image with Debian's tools:
# GNU tar + zstd unpack disk-img.tar.zst; sgdisk -v checks the GPT; every
# partition is cut out by its sfdisk offsets and checked with e2fsck -fn or
# fsck.vfat -n; debugfs and mtype read files back; the B slots are empty;
# update-img.tar.zst holds boot.img and root.img equal to A_boot and A_root.
# Arguments: disk-img.tar.zst disk-img.tar.zst.sha256 update-img.tar.zst
# update-img.tar.zst.sha256 version.txt (in any order).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
fail() { echo "FAIL: $*" >&2; exit 1; }

for a in "$@"; do
	case "$a" in
	*disk-img.tar.zst) disk_arc=$a ;;
	*update-img.tar.zst) upd_arc=$a ;;
	*version.txt) version_txt=$a ;;
	esac
done
: "${disk_arc:?}" "${upd_arc:?}" "${version_txt:?}"
w=${TEST_TMPDIR:-$(mktemp -d)}

(cd "$(dirname "$disk_arc")" && sha256sum -c --quiet "$(basename "$disk_arc").sha256") || fail "disk-img checksum"
(cd "$(dirname "$upd_arc")" && sha256sum -c --quiet "$(basename "$upd_arc").sha256") || fail "update-img checksum"
zstd -q -t <"$disk_arc" || fail "zstd -t disk-img"

mkdir -p "$w/disk" "$w/upd" "$w/p"
tar --zstd -xf "$disk_arc" -C "$w/disk"
disk=$w/disk/disk.img
[[ -f $disk ]] || fail "disk-img.tar.zst has no disk.img: $(tar --zstd -tf "$disk_arc")"
[[ $(stat -c %s "$disk") == $((1 << 30)) ]] || fail "disk.img is $(stat -c %s "$disk") bytes, want 1 GiB"
alloc=$(($(stat -c %b "$disk") * 512))
((alloc < 64 << 20)) || fail "disk.img allocates $alloc bytes: not sparse"
sgdisk -v "$disk" | grep -q "No problems found" || fail "sgdisk -v: $(sgdisk -v "$disk")"

# name start size (sectors) for every partition, from sfdisk's dump.
declare -A start size
while read -r name st sz; do
	start[$name]=$st size[$name]=$sz
done < <(sfdisk -d "$disk" | sed -n 's/.*start= *\([0-9]*\), size= *\([0-9]*\),.*name="\([^"]*\)".*/\3 \1 \2/p')
for p in esp grub config A_boot A_root A_var B_boot B_root B_var; do
	[[ -n ${start[$p]:-} ]] || fail "partition $p missing"
	dd if="$disk" of="$w/p/$p" bs=512 skip="${start[$p]}" count="${size[$p]}" conv=sparse status=none
done

for p in esp grub; do
	fsck.vfat -n "$w/p/$p" >/dev/null || fail "fsck.vfat -n $p"
done
for p in config A_boot A_root; do
	e2fsck -fn "$w/p/$p" >/dev/null 2>&1 || fail "e2fsck -fn $p: $(e2fsck -fn "$w/p/$p" 2>&1)"
done
for p in A_var B_boot B_root B_var; do
	cmp -s -n "$((size[$p] * 512))" "$w/p/$p" /dev/zero || fail "partition $p is not empty"
done

mtype -i "$w/p/grub" ::/grub.cfg | grep -q 'dfinity.system=' || fail "grub.cfg not in the grub partition"
[[ $(mtype -i "$w/p/grub" ::/grubenv | wc -c) == 1024 ]] || fail "grubenv is not 1024 bytes"
want_version=$(cat "$version_txt")
[[ $(debugfs -R 'cat /version.txt' "$w/p/A_boot" 2>/dev/null) == "$want_version" ]] || fail "A_boot /version.txt"
debugfs -R 'cat /vmlinuz' "$w/p/A_boot" 2>/dev/null | grep -q 'not a kernel' || fail "A_boot /vmlinuz"
[[ $(debugfs -R 'cat /etc/hostname' "$w/p/A_root" 2>/dev/null) == test-os ]] || fail "A_root /etc/hostname"
debugfs -R 'stat /usr/bin/hello' "$w/p/A_root" 2>/dev/null | grep -q 'Mode:  0755' || fail "A_root /usr/bin/hello mode"
debugfs -R 'stat /usr/bin/hi' "$w/p/A_root" 2>/dev/null | grep -q 'Fast link dest: "hello"' || fail "A_root symlink /usr/bin/hi"
debugfs -R 'ls -l /boot' "$w/p/A_root" 2>/dev/null | grep -qv vmlinuz || true
if debugfs -R 'ls /boot' "$w/p/A_root" 2>/dev/null | grep -q vmlinuz; then fail "A_root /boot is not stripped"; fi

tar --zstd -xf "$upd_arc" -C "$w/upd"
[[ "$(cd "$w/upd" && ls | sort | tr '\n' ' ')" == "VERSION.TXT boot.img root.img " ]] || fail "update-img holds: $(ls "$w/upd")"
cmp -s "$w/upd/VERSION.TXT" "$version_txt" || fail "update-img VERSION.TXT"
cmp -s -n "$(stat -c %s "$w/upd/boot.img")" "$w/upd/boot.img" "$w/p/A_boot" || fail "update-img boot.img differs from A_boot"
cmp -s -n "$(stat -c %s "$w/upd/root.img")" "$w/upd/root.img" "$w/p/A_root" || fail "update-img root.img differs from A_root"
echo "PASS: disk-img and update-img check out (disk allocates $((alloc >> 20)) MiB of 1024)"
