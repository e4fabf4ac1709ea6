// Package vfat writes FAT12, FAT16 and FAT32 filesystem images with VFAT long
// file names, deterministically and in one streaming pass.
//
// The on-disk format follows Microsoft's "FAT: General Overview of On-Disk
// Format" (fatgen103); default geometry follows mkfs.fat (dosfstools 4.2).
//
// # Layout
//
// The FAT type is decided by the count of data clusters alone (FAT12 below
// 4085, FAT16 below 65525, FAT32 from there). Without a forced type or
// cluster size, Plan picks what mkfs.fat picks: FAT32 from 512 MiB with
// Microsoft's cluster sizes (512 bytes up to 260 MiB, 4 KiB up to 8 GiB...),
// below that FAT12 or FAT16 with 2 KiB clusters doubled until valid. The
// data area is aligned to the cluster size (except on volumes of 4 MiB or
// less), FAT32 volumes have 32 reserved sectors with FSInfo in sector 1 and
// the backup boot sector (and FSInfo copy) in sectors 6 and 7, FAT12/16
// roots hold 512 entries (more when rounded up to whole clusters). Two FATs,
// identical; media byte 0xF8.
//
// File data is written as it arrives: each file gets consecutive clusters,
// allocated in the order files are added, so nothing is held in memory but
// the names and cluster numbers. Directories (root included on FAT32) are
// laid out after the file data when Close runs, followed by the FATs and
// the boot sectors. Blocks of zeros are not written, so the image stays
// sparse (a 2 GiB volume costs the size of its metadata and content).
//
// # Names
//
// Long names are stored as VFAT entries (UTF-16, any Unicode, up to 255
// units, no control characters or "*/:<>?\|, no trailing dot or space).
// A name that is a valid 8.3 name with each of base and extension in one
// case gets no long name ("README.TXT"; "readme.txt" and "grubenv" use the
// Windows NT / Linux lower-case flags of the reserved byte). A valid 8.3
// name in mixed case keeps its upper-cased short name plus a long name
// ("ReadMe.txt" -> README.TXT). Other names get a long name and a short
// name BASE~N.EXT with the smallest free N (the base shrinks as N grows;
// characters not allowed in short names, non-ASCII ones included, become
// '_'). Entries are sorted by name and short names are assigned in that
// order, so directories do not depend on the order files were added. Names
// that differ only in case collide, as they do on FAT, and are errors.
//
// # Metadata
//
// Every timestamp (creation, access, modification, of every entry) is
// Options.ModTime, stored as UTC wall-clock time and clamped to the DOS range
// 1980-01-01 00:00:00 .. 2107-12-31 23:59:58 (so 0, the default, becomes
// 1980-01-01). The volume serial and label come from Options; the label is
// written to the boot sector and as a volume-label entry of the root. Files
// get the archive attribute, and the read-only attribute when asked for
// (AddTar: when the mode has no owner write bit). Owners and other mode
// bits have no FAT equivalent and are dropped. FAT has no links: AddTar
// copies hard links and rejects symlinks and device nodes.
package vfat
