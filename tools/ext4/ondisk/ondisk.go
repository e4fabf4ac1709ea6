// Package ondisk holds the constants of the ext2/3/4 on-disk format that
// both the writer (tools/ext4) and the read-only reader
// (tools/imgdiff/ext4r) use: magic numbers, reserved inode numbers, feature
// and inode flag bits, mode type bits, directory entry file types and the
// fixed sizes of the structures. The values and names follow the kernel's
// Documentation/filesystems/ext4; choices of the writer (block size,
// inode extra size, flex_bg size...) stay in tools/ext4.
package ondisk

// Superblock placement and identity.
const (
	// SuperblockOffset is the byte offset of the primary superblock from
	// the start of the filesystem, whatever the block size.
	SuperblockOffset = 1024
	// SuperblockSize is the size of the superblock in bytes.
	SuperblockSize = 1024
	// Magic is s_magic, the superblock magic number.
	Magic = 0xEF53
	// RevDynamic is s_rev_level of filesystems with variable inode sizes
	// and s_first_ino (revision 1).
	RevDynamic = 1
	// GoodOldInodeSize is the inode size of revision 0 filesystems.
	GoodOldInodeSize = 128
	// GoodOldFirstIno is the first non-reserved inode of revision 0
	// filesystems (and the usual one of revision 1, set by mke2fs).
	GoodOldFirstIno = 11
)

// Reserved inode numbers.
const (
	// RootIno is the inode of the root directory.
	RootIno = 2
	// ResizeIno is the inode that maps the reserved GDT blocks.
	ResizeIno = 7
	// JournalIno is the inode of the internal journal, as mke2fs places it.
	JournalIno = 8
)

// Block group descriptor sizes (s_desc_size).
const (
	// DescSize is the size of a group descriptor without the 64bit
	// feature, and the least s_desc_size with it.
	DescSize = 32
	// DescSize64 is the least descriptor size holding the high halves of
	// the 64bit feature's block numbers.
	DescSize64 = 64
)

// Block group descriptor flags (bg_flags).
const (
	// BgInodeTableZeroed says the group's inode table is zeroed.
	BgInodeTableZeroed = 0x0004
)

// Compatible features (s_feature_compat).
const (
	CompatHasJournal   = 0x0004 // has_journal: an internal journal
	CompatExtAttr      = 0x0008 // ext_attr: extended attributes
	CompatDirIndex     = 0x0020 // dir_index: hash tree directories
	CompatSparseSuper2 = 0x0200 // sparse_super2: at most two superblock backups
)

// Incompatible features (s_feature_incompat).
const (
	IncompatFiletype = 0x0002 // filetype: directory entries hold the file type
	IncompatExtents  = 0x0040 // extents: files mapped by extent trees
	IncompatMetaBG   = 0x0010 // meta_bg: group descriptors spread over meta groups
	Incompat64bit    = 0x0080 // 64bit: block numbers above 2^32
	IncompatFlexBG   = 0x0200 // flex_bg: group metadata placed anywhere
	IncompatEAInode  = 0x0400 // ea_inode: xattr values in their own inodes
)

// Read-only compatible features (s_feature_ro_compat).
const (
	ROCompatSparseSuper  = 0x0001 // sparse_super: backups in groups 0, 1 and powers of 3, 5, 7
	ROCompatLargeFile    = 0x0002 // large_file: files of 2 GiB and more
	ROCompatHugeFile     = 0x0008 // huge_file: i_blocks in file system blocks
	ROCompatDirNlink     = 0x0020 // dir_nlink: more than 65000 subdirectories
	ROCompatExtraIsize   = 0x0040 // extra_isize: large inodes hold i_extra_isize
	ROCompatMetadataCsum = 0x0400 // metadata_csum: crc32c checksums of metadata
)

// Superblock flags and defaults.
const (
	// FlagsUnsignedHash (s_flags) says directory hashes use unsigned chars.
	FlagsUnsignedHash = 0x0002
	// HashHalfMD4 is the half_md4 directory hash (s_def_hash_version).
	HashHalfMD4 = 1
	// DefmXattrUser and DefmACL are s_default_mount_opts bits:
	// user_xattr and acl.
	DefmXattrUser = 0x0004
	DefmACL       = 0x0008
	// JnlBackupBlocks is s_jnl_backup_type when s_jnl_blocks holds a copy
	// of the journal inode's i_block.
	JnlBackupBlocks = 1
)

// Inode flags (i_flags).
const (
	InodeFlagIndex      = 0x1000     // EXT4_INDEX_FL: hash tree directory
	InodeFlagExtents    = 0x80000    // EXT4_EXTENTS_FL: i_block holds an extent tree
	InodeFlagInlineData = 0x10000000 // EXT4_INLINE_DATA_FL: data in the inode
)

// Type bits of i_mode, as in st_mode.
const (
	ModeType    = 0o170000 // mask of the type bits
	ModeSocket  = 0o140000
	ModeSymlink = 0o120000
	ModeRegular = 0o100000
	ModeBlock   = 0o060000
	ModeDir     = 0o040000
	ModeChar    = 0o020000
	ModeFIFO    = 0o010000
)

// Directory entry file types (ext4_dir_entry_2.file_type).
const (
	FileTypeRegular = 1
	FileTypeDir     = 2
	FileTypeChar    = 3
	FileTypeBlock   = 4
	FileTypeFIFO    = 5
	FileTypeSocket  = 6
	FileTypeSymlink = 7
)

// Inode layout.
const (
	// InodeBlockLen is the size of i_block: 15 block numbers, or an
	// extent tree root, or a fast symlink's target, or inline data.
	InodeBlockLen = 60
	// LinkMax is EXT4_LINK_MAX, the most links an inode counts.
	LinkMax = 65000
)

// Extent trees.
const (
	// ExtentMagic is eh_magic, the magic of every extent tree node.
	ExtentMagic = 0xF30A
	// ExtentHeaderLen and ExtentEntryLen are the sizes of the node header
	// and of one entry (ext4_extent or ext4_extent_idx).
	ExtentHeaderLen = 12
	ExtentEntryLen  = 12
	// MaxInitExtentLen is the longest initialized extent; ee_len above it
	// marks an uninitialized extent of ee_len - MaxInitExtentLen blocks.
	MaxInitExtentLen = 32768
)

// Extended attributes.
const (
	// XattrMagic starts an EA block and the in-inode attribute area.
	XattrMagic = 0xEA020000
	// XattrHeaderLen is the size of the header of an EA block.
	XattrHeaderLen = 32
	// XattrEntryLen is the size of an attribute entry without its name.
	XattrEntryLen = 16
)

// Attribute name indexes (e_name_index): the prefix an entry's name omits.
const (
	XattrIndexUser            = 1 // "user."
	XattrIndexPosixACLAccess  = 2 // "system.posix_acl_access"
	XattrIndexPosixACLDefault = 3 // "system.posix_acl_default"
	XattrIndexTrusted         = 4 // "trusted."
	XattrIndexSecurity        = 6 // "security."
	XattrIndexSystem          = 7 // "system."
	XattrIndexRichACL         = 8 // "system.richacl"
)

// JBD2 journal superblock.
const (
	// JBD2Magic is h_magic of every journal block header (big-endian).
	JBD2Magic = 0xC03B3998
	// JBD2SuperblockV2 is h_blocktype of a version 2 journal superblock.
	JBD2SuperblockV2 = 4
)
