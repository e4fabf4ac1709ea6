// Package ext4 writes ext4 filesystem images straight from a tar stream,
// without root, loop devices or extraction, bit-for-bit reproducibly.
//
// # Streaming design
//
// Build reads the tar once. Each regular file's data is written into the
// image as it is read, at blocks handed out in ascending order from the
// data region, so a file is contiguous (one extent per 128 MiB) and file
// contents are never held in memory. All-zero 4 KiB blocks are not written
// and not allocated: they become holes in the file (and stay holes in the
// image file). Only metadata stays in memory (one small struct per inode,
// names, extents, xattrs); once the stream ends, directories, extent tree
// blocks, EA blocks, inode tables, bitmaps, group descriptors and
// superblocks are laid out and written. Small contiguous writes are
// gathered into 1 MiB writes.
//
// # On-disk format
//
// 4 KiB blocks, 256-byte inodes (512 and 1024 allowed) with
// i_extra_isize 32 and nanosecond timestamps, and the features ext_attr,
// dir_index, filetype, extent, flex_bg, sparse_super, large_file,
// huge_file, dir_nlink, extra_isize and metadata_csum (crc32c, seeded with
// crc32c(~0, UUID) as the kernel does). Decisions:
//
//   - No 64bit: 32-bit block numbers reach 16 TiB, far above any IC-OS
//     partition, and keep 32-byte group descriptors.
//   - flex_bg with all block bitmaps, inode bitmaps and inode tables packed
//     right after the primary group descriptors, so the data region is one
//     run interrupted only by sparse_super backups (groups 0, 1 and powers
//     of 3, 5, 7). No resize_inode (no reserved GDT blocks), no reserved
//     blocks. Options.Journal adds an internal journal (inode 8) of
//     mke2fs's default size, empty and without journal features, placed
//     right after the metadata; read-only roots need none.
//   - The inode count is fixed before the stream is read, from the image
//     size and the inode ratio (16384 bytes per inode, 4096 below 512 MiB,
//     as mke2fs does); a tar with more entries fails with both numbers.
//   - Directories that fit one block are linear; larger ones get a hash
//     tree (dir_index: half_md4 with the fixed hash seed, unsigned chars,
//     one or two index levels, entries sorted by hash, then name), built
//     in one pass like e2fsck -D does. A directory too large for two
//     levels (over ~250,000 blocks) stays linear, which e2fsck accepts.
//     Entries of linear directories are sorted by name. Every block has
//     its metadata_csum tail (dirent tail or dx_tail).
//   - lost+found is inode 11, mode 0700, preallocated to 16 KiB like
//     mke2fs. Other inodes are numbered from 12 in order of first
//     appearance in the tar, so the image is a function of the tar bytes.
//   - Fast symlinks (< 60 bytes) live in i_block; longer targets get a
//     data block. Device numbers use the kernel's old encoding when major
//     and minor fit in 8 bits, the new one otherwise. uid/gid are 32-bit.
//   - Extended attributes come from PAX SCHILY.xattr.* records (user.,
//     trusted., security. and POSIX ACLs, converted to ext4's on-disk ACL
//     format). They fill the inode's free space first, in the kernel's
//     sorted order; the rest go to one EA block.
//
// # Tree semantics
//
// The root directory takes mode, owner and times from the tar's "./"
// entry. Parents missing from the tar are created as 0755 root:root
// directories; a later entry for such a directory (input may be
// unsorted) supplies its real metadata. Hard links must name an earlier
// entry. Duplicate entries, invalid names (see package tarpath), hard links
// to missing targets or directories, truncated streams and content larger
// than the image fail with an error naming the entry; the image size error
// gives both sizes.
//
// Options.Subdir makes a directory of the tar the root (its own entry
// gives the root's metadata); a tar without that directory is an error,
// not an empty filesystem. Options.Strip drops the contents of the
// listed directories but keeps (or creates) the directories themselves,
// as empty mount points.
//
// Times: Options.ModTime, when set, is every time in the image: each
// inode's atime, ctime, mtime and crtime and the superblock's mkfs, write
// and check times (the build's SOURCE_DATE_EPOCH; the tar's times are not
// used). Without it: mtime from the tar, atime and ctime from PAX records
// when present (else mtime), crtime = mtime, superblock times 0.
// The UUID and directory hash seed default to SHA-256 derived values of
// the label and size. No clock, host user, random value or map order
// reaches the image.
//
// With Options.Labeler (see package selinux) every inode gets a
// security.selinux label looked up by its path in the running system
// ("/" + Subdir + path; for hard links the first name in the tar) and
// file type, replacing any label from the tar;
// paths without a match or matching <<none>> keep the tar's label.
package ext4
