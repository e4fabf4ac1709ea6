"""Partitions as data: one list per disk, the tables generated from it.

A disk layout is a list of `partition(...)` entries (and, inside an LVM
physical volume, `volume(...)` entries), much like the files of a
systemd-repart `repart.d` directory: each says where it is (order, size),
what it is (GPT type, GUID) and what it holds (kind, label, contents).
`icos_table` writes partitions.csv / volumes.csv from such a list for
`icos disk` / `icos lvm`; the filesystem rules return PartitionImageInfo, so
disk assembly and tests learn what an image is from its provider, not from
its file name.
"""

PartitionImageInfo = provider(
    doc = "A filesystem or volume image made to fill one partition or logical volume.",
    fields = {
        "file": "File: the image",
        "kind": "string: ext4, vfat or lvm",
        "size": "string: the image's size as given to the tool (e.g. 3G)",
        "compressed": "bool: the file is a .zst stream of the raw image",
        "archive": "bool: the file is a sparse tar (.tar.zst) holding the raw image, with a .sha256 beside it",
    },
)

KINDS = ("ext4", "vfat", "lvm", "empty")

def partition_image_info(file, kind, size):
    """PartitionImageInfo of an image file, its format read from its name.

    Args:
      file: the image File.
      kind: ext4, vfat or lvm.
      size: the size given to the tool.

    Returns:
      PartitionImageInfo.
    """
    archive = file.basename.endswith(".tar.zst")
    return PartitionImageInfo(
        file = file,
        kind = kind,
        size = size,
        archive = archive,
        compressed = file.basename.endswith(".zst") and not archive,
    )

def _entry(what, name, size, kind, start, uuid, comment, label, fs_size, contents, files, fat):
    """The fields partitions and volumes share, checked."""
    if not name or "," in name or "\n" in name:
        fail("%s %r: name must be non-empty, without commas" % (what, name))
    if not size:
        fail("%s %s: size is required" % (what, name))
    if kind not in KINDS:
        fail("%s %s: kind %r is not one of %s" % (what, name, kind, ", ".join(KINDS)))
    return dict(
        name = name,
        size = size,
        kind = kind,
        start = start,
        uuid = uuid,
        comment = comment,
        label = label,
        fs_size = fs_size or size,
        contents = contents,
        files = files,
        fat = fat,
    )

def partition(
        name,
        size,
        kind = "empty",
        type = "L",
        start = "",
        uuid = "",
        comment = "",
        label = "",
        fs_size = "",
        contents = "",
        files = {},
        fat = 0,
        volumes = [],
        lvm = {},
        verity = {}):
    """One GPT partition of a disk layout.

    Args:
      name: the partition name (GPT name, unique in the disk).
      size: the partition size (icos size grammar: 1048576, 1M, 1MiB, 2048s).
      kind: what the build writes into it: "ext4", "vfat", "lvm" (a physical
        volume holding `volumes`) or "empty" (left zero; made on the node).
      type: GPT type: U (EFI system), L (Linux filesystem), M (basic data),
        V (Linux LVM) or a type GUID.
      start: start offset; empty: right after the previous partition.
      uuid: partition GUID; empty: derived from the disk GUID and the name.
      comment: what the partition is for (written into partitions.csv).
      label: filesystem label (ext4, vfat).
      fs_size: size of the filesystem when it is smaller than the partition
        (default: the partition size).
      contents: which part of the OS fills it. ext4: "root" (/ without
        /boot), "boot" (/boot without efi, grub, config; with version.txt),
        "config" (/boot/config); vfat: "grub" (`files` plus slots.cfg, which
        icos_build generates from the layout for grub.cfg: where /boot and /
        of system A and B are); empty: `files` alone.
      files: files of the filesystem, label -> path (vfat; ext4 without contents).
        "{mode}" in a label becomes the variant ("prod" or "dev").
      fat: vfat only: force FAT 12, 16 or 32 (default: by size).
      volumes: lvm only: the `volume(...)` list of the physical volume.
      lvm: lvm only: icos_lvm attributes (vg_name, vg_uuid, pv_uuid, creation_host).
      verity: ext4 only: {"salt": HEX, "uuid": UUID}: the dm-verity hash area
        of the filesystem follows it in the partition (at offset fs_size,
        which must leave room for it), and the root hash goes into
        /boot/extra_boot_args of the same system (contents "root" only).

    Returns:
      The partition, a dict.
    """
    if verity and (kind != "ext4" or sorted(verity.keys()) != ["salt", "uuid"]):
        fail("partition %s: verity is for ext4 partitions and has exactly salt and uuid" % name)
    if kind == "lvm" and not volumes:
        fail("partition %s: kind lvm needs volumes" % name)
    if volumes and kind != "lvm":
        fail("partition %s: volumes are only for kind lvm" % name)
    p = _entry("partition", name, size, kind, start, uuid, comment, label, fs_size, contents, files, fat)
    p.update(type = type, volumes = volumes, lvm = lvm, verity = verity)
    return p

def volume(name, size, uuid, kind = "empty", start = "", comment = "", label = "", fs_size = "", contents = "", files = {}):
    """One logical volume of an LVM physical volume (see partition for the arguments).

    Args:
      name: the LV name.
      size: the LV size (a multiple of the 4 MiB extent).
      uuid: the LV UUID (LVM form, 32 characters with dashes).
      kind: "ext4", "vfat" or "empty".
      start: start offset in the PV's data area; empty: packed.
      comment: what the volume is for.
      label: filesystem label.
      fs_size: filesystem size (default: the volume size).
      contents: as for partition.
      files: as for partition.

    Returns:
      The volume, a dict.
    """
    if kind == "lvm":
        fail("volume %s: kind lvm cannot nest" % name)
    if not uuid:
        fail("volume %s: uuid is required (LVM has no derived volume UUIDs)" % name)
    return _entry("volume", name, size, kind, start, uuid, comment, label, fs_size, contents, files, 0)

def _csv(rows, columns):
    """A table of icos disk / icos lvm: a header comment, then one row per entry."""
    lines = ["# Generated from the partition list of the OS's config.bzl. Row: " + ",".join(columns)]
    for r in rows:
        lines.append(",".join([r[c] for c in columns]))
    return "\n".join(lines) + "\n"

def partitions_csv(partitions):
    """The partitions.csv text of a partition list (icos disk's format).

    Args:
      partitions: list of partition(...).

    Returns:
      The file content.
    """
    return _csv(partitions, ["name", "start", "size", "type", "uuid", "comment"])

def volumes_csv(volumes):
    """The volumes.csv text of a volume list (icos lvm's format).

    Args:
      volumes: list of volume(...).

    Returns:
      The file content.
    """
    return _csv(volumes, ["name", "start", "size", "uuid", "comment"])

def _icos_table_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    ctx.actions.write(out, ctx.attr.content)
    return [DefaultInfo(files = depset([out]))]

icos_table = rule(
    implementation = _icos_table_impl,
    doc = "Writes a partitions.csv or volumes.csv generated from a partition list (partitions_csv, volumes_csv).",
    attrs = {
        "content": attr.string(doc = "The table text.", mandatory = True),
        "out": attr.string(doc = "Output file name, e.g. partitions.csv.", mandatory = True),
    },
)
