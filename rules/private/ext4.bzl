"""icos_ext4: an ext4 filesystem image from a tar."""

load(":action.bzl", "ICOS_TOOLCHAIN", "run_icos")
load(":partition.bzl", "partition_image_info")

def _icos_ext4_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".img")
    args = ctx.actions.args()
    args.add("--input", ctx.file.src)
    args.add("--output", out)
    args.add("--size", ctx.attr.image_size)
    args.add("--mtime", str(ctx.attr.mtime))
    if ctx.attr.subdir:
        args.add("--subdir", ctx.attr.subdir)
    if ctx.attr.strip:
        args.add("--strip", ",".join(ctx.attr.strip))
    if ctx.attr.label_name:
        args.add("--label", ctx.attr.label_name)
    if ctx.attr.uuid:
        args.add("--uuid", ctx.attr.uuid)
    if ctx.attr.hash_seed:
        args.add("--hash-seed", ctx.attr.hash_seed)
    inputs = [ctx.file.src]
    outputs = [out]
    groups = {}
    if ctx.attr.verity_salt:
        root_hash = ctx.actions.declare_file(ctx.label.name + ".root_hash")
        args.add("--verity-salt", ctx.attr.verity_salt)
        args.add("--verity-uuid", ctx.attr.verity_uuid)
        args.add("--verity-root-hash", root_hash)
        outputs.append(root_hash)
        groups["root_hash"] = depset([root_hash])
    if ctx.file.file_contexts:
        args.add("--file-contexts", ctx.file.file_contexts)
        inputs.append(ctx.file.file_contexts)
    run_icos(
        ctx,
        subcommand = ["ext4"],
        arguments = args,
        inputs = inputs,
        outputs = outputs,
        mnemonic = "IcosExt4",
        progress = "Writing ext4 image %{output}",
    )
    return [
        DefaultInfo(files = depset([out])),
        OutputGroupInfo(**groups),
        partition_image_info(out, "ext4", ctx.attr.image_size),
    ]

icos_ext4 = rule(
    implementation = _icos_ext4_impl,
    doc = "Writes an ext4 image of exactly `size` bytes from a tar, with `icos ext4`; with verity_salt, " +
          "followed by its dm-verity hash area, the root hash in output group root_hash.",
    attrs = {
        "src": attr.label(doc = "Tar to read (e.g. a rootfs tar).", allow_single_file = [".tar"], mandatory = True),
        "out": attr.string(doc = "Output file name (default: NAME.img)."),
        "image_size": attr.string(doc = "Image size, e.g. 3G.", mandatory = True),
        "subdir": attr.string(doc = "Directory of the tar that becomes the filesystem root (e.g. boot)."),
        "strip": attr.string_list(doc = "Directories whose contents are left out (kept as empty mount points)."),
        "label_name": attr.string(doc = "Volume label."),
        "uuid": attr.string(doc = "Filesystem UUID (default: derived from the label and size)."),
        "hash_seed": attr.string(doc = "Directory hash seed UUID (default: derived from the label and size)."),
        "mtime": attr.int(doc = "Every timestamp in the image (SOURCE_DATE_EPOCH).", default = 0),
        "file_contexts": attr.label(doc = "SELinux file_contexts: label every inode.", allow_single_file = True),
        "verity_salt": attr.string(doc = "Append the dm-verity hash area with this salt (hex); the root hash is output group root_hash."),
        "verity_uuid": attr.string(doc = "UUID of the dm-verity superblock (with verity_salt)."),
    },
    toolchains = [ICOS_TOOLCHAIN],
)
