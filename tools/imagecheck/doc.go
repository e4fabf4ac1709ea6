// Package imagecheck checks the outputs of one OS image build (the sparse
// disk archive, the update archive and the filesystems in them) with
// Debian's tools, never with the icos readers: what the icos writers produce
// is judged by independent implementations.
//
// A check is described by a Spec, plain data read from JSON (LoadSpec).
// Check runs every check of a spec and reports all failures at once, each
// naming the partition, volume or file it concerns. Nothing in this package
// knows about a particular OS: the spec says what each partition holds.
//
// # Spec format
//
//	{
//	  "name": "guestos prod",
//	  "disk": {"archive": "ic-os/guestos/envs/prod/disk-img.tar.zst", "entry": "disk.img",
//	           "size": "50G", "max_allocated": "25G"},
//	  "partitions": [
//	    {"name": "esp", "kind": "vfat"},
//	    {"name": "A_root", "kind": "ext4"},
//	    {"name": "A_var", "kind": "empty"},
//	    {"name": "hostlvm", "kind": "lvm", "volumes": [
//	      {"name": "config", "kind": "ext4"}, {"name": "guestos", "kind": "empty"}]}
//	  ],
//	  "files": [
//	    {"fs": "grub", "path": "/grub.cfg", "contains": "dfinity.system="},
//	    {"fs": "grub", "path": "/grubenv", "size": 1024},
//	    {"fs": "A_boot", "path": "/version.txt", "equals_file": "ic-os/guestos/envs/prod/version.txt"},
//	    {"fs": "A_boot", "dir": "/", "has_prefix": "vmlinuz-"},
//	    {"fs": "A_root", "path": "/etc/hostname", "equals": "guestos\n"},
//	    {"fs": "A_root", "path": "/usr/lib/systemd/systemd", "type": "regular"},
//	    {"fs": "A_root", "path": "/usr/bin/hello", "mode": "0755"},
//	    {"fs": "A_root", "path": "/usr/bin/hi", "symlink": "hello"},
//	    {"fs": "A_root", "dir": "/boot", "lacks_prefix": "vmlinuz"}
//	  ],
//	  "shadow": {"fs": "A_root", "user": "root", "locked": true},
//	  "update": {"archive": "ic-os/guestos/envs/prod/update-img.tar.zst",
//	             "entries": {"VERSION.TXT": {"equals_file": "ic-os/guestos/envs/prod/version.txt"},
//	                         "boot.img": {"partition": "A_boot"}, "root.img": {"partition": "A_root"}}}
//	}
//
// Relative paths are relative to the base directory given to Check (under
// Bazel, the runfiles root).
//
// disk: the archive and the archive's ".sha256" file beside it must agree
// (sha256sum -c), the archive must pass zstd -t, and GNU tar must unpack
// the entry from it. The entry must be exactly size bytes long and allocate
// fewer than max_allocated bytes (default: half its size; it is sparse), and
// sgdisk -v must find no problems in its GPT. Sizes are numbers of bytes or
// strings in the size grammar of package size ("50G", "64MiB").
//
// partitions: the disk's partitions (sfdisk -J), by name and in order, must
// be exactly these. Each is cut out at its offsets and checked by kind:
// "ext4" with e2fsck -fn, "vfat" with fsck.vfat -n, "empty": its first MiB
// is zero (no filesystem or volume signature), "lvm": an LVM2 physical
// volume read with pvck --dump metadata, whose logical volumes (each one
// linear segment on pv0) must be exactly volumes, by name and in order, and
// are checked by kind the same way. Partition and volume names are unique
// in a spec: files and update entries refer to them by name.
//
// files: each names the ext4 or vfat partition or volume fs it reads (ext4
// with debugfs, vfat with mtype and mdir) and either a file path or a
// directory dir. A path must exist, and each given property must hold:
// "equals" (the exact content), "equals_file" (the same bytes as that file),
// "contains" (a substring of the content), "size" (in bytes), and on ext4
// only "type" ("regular", "directory", "symlink", ... as debugfs names it),
// "mode" (octal permission bits, e.g. "0755") and "symlink" (the link
// target). A dir must exist; "has_prefix": some entry's name starts with
// it; "lacks_prefix": no entry's name does.
//
// shadow: the /etc/shadow password field of user in the ext4 fs: "locked"
// means it starts with "*" or "!" (no password logs in); else it must equal
// "hash".
//
// update (optional): the archive passes sha256sum -c and zstd -t like the
// disk's, GNU tar unpacks it, and it holds exactly the named entries. An
// entry with "equals_file" must equal that file; one with "partition" must
// equal the start of that ext4 or vfat partition or volume, for the entry's
// length.
package imagecheck
