"""icos_disk and icos_lvm: GPT disks and LVM physical volumes from images."""

load(":action.bzl", "ICOS_TOOLCHAIN", "run_icos")
load(":partition.bzl", "PartitionImageInfo", "partition_image_info")

def _images(ctx, args, inputs):
    for target, name in sorted(ctx.attr.images.items(), key = lambda kv: kv[1]):
        f = target[PartitionImageInfo].file
        args.add("--image", "%s=%s" % (name, f.path))
        inputs.append(f)

def _outputs(ctx):
    """The image file and, for a .tar.zst archive, its .sha256."""
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".img")
    if out.basename.endswith(".tar.zst"):
        return out, [out, ctx.actions.declare_file(out.basename + ".sha256", sibling = out)]
    return out, [out]

def _icos_disk_impl(ctx):
    out, outputs = _outputs(ctx)
    args = ctx.actions.args()
    args.add("--partitions", ctx.file.partitions)
    args.add("--output", out)
    if ctx.attr.image_size:
        args.add("--size", ctx.attr.image_size)
    if ctx.attr.disk_guid:
        args.add("--disk-guid", ctx.attr.disk_guid)
    inputs = [ctx.file.partitions]
    _images(ctx, args, inputs)
    run_icos(
        ctx,
        subcommand = ["disk"],
        arguments = args,
        inputs = inputs,
        outputs = outputs,
        mnemonic = "IcosDisk",
        progress = "Assembling GPT disk %{output}",
    )
    return [DefaultInfo(files = depset(outputs)), OutputGroupInfo(archive = depset([out]))]

icos_disk = rule(
    implementation = _icos_disk_impl,
    doc = "Assembles a sparse GPT disk image from a partitions.csv and partition images, with `icos disk`. Output group `archive`: the image alone (without its .sha256).",
    attrs = {
        "partitions": attr.label(doc = "The partition table (partitions.csv).", allow_single_file = [".csv"], mandatory = True),
        "images": attr.label_keyed_string_dict(doc = "Partition images (icos_ext4, icos_vfat, icos_lvm): label -> partition name.", providers = [PartitionImageInfo]),
        "out": attr.string(doc = "Output file name (default: NAME.img); .zst compresses, .tar.zst packs as a sparse tar (+ .sha256)."),
        "image_size": attr.string(doc = "Final (expanded) disk size, e.g. 50G."),
        "disk_guid": attr.string(doc = "Disk GUID (default: derived from the table)."),
    },
    toolchains = [ICOS_TOOLCHAIN],
)

def _icos_lvm_impl(ctx):
    out, outputs = _outputs(ctx)
    args = ctx.actions.args()
    args.add("--volumes", ctx.file.volumes)
    args.add("--output", out)
    args.add("--size", ctx.attr.image_size)
    args.add("--vg-name", ctx.attr.vg_name)
    args.add("--vg-uuid", ctx.attr.vg_uuid)
    args.add("--pv-uuid", ctx.attr.pv_uuid)
    args.add("--creation-time", str(ctx.attr.creation_time))
    args.add("--creation-host", ctx.attr.creation_host)
    inputs = [ctx.file.volumes]
    _images(ctx, args, inputs)
    run_icos(
        ctx,
        subcommand = ["lvm"],
        arguments = args,
        inputs = inputs,
        outputs = outputs,
        mnemonic = "IcosLvm",
        progress = "Writing LVM physical volume %{output}",
    )
    return [
        DefaultInfo(files = depset(outputs)),
        OutputGroupInfo(archive = depset([out])),
        partition_image_info(out, "lvm", ctx.attr.image_size),
    ]

icos_lvm = rule(
    implementation = _icos_lvm_impl,
    doc = "Writes an LVM2 physical volume with one volume group and linear volumes, with `icos lvm`. Output group `archive`: the image alone.",
    attrs = {
        "volumes": attr.label(doc = "The volume table (volumes.csv).", allow_single_file = [".csv"], mandatory = True),
        "images": attr.label_keyed_string_dict(doc = "Volume images (icos_ext4, icos_vfat): label -> LV name.", providers = [PartitionImageInfo]),
        "out": attr.string(doc = "Output file name (default: NAME.img)."),
        "image_size": attr.string(doc = "PV size, e.g. 90G.", mandatory = True),
        "vg_name": attr.string(doc = "Volume group name.", mandatory = True),
        "vg_uuid": attr.string(doc = "Volume group UUID.", mandatory = True),
        "pv_uuid": attr.string(doc = "Physical volume UUID.", mandatory = True),
        "creation_time": attr.int(doc = "Creation time recorded in the metadata.", default = 0),
        "creation_host": attr.string(doc = "Creation host recorded in the metadata.", default = "localhost"),
    },
    toolchains = [ICOS_TOOLCHAIN],
)
