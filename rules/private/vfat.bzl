"""icos_vfat: a FAT filesystem image from a tar or from single files."""

load(":action.bzl", "ICOS_TOOLCHAIN", "run_icos")
load(":partition.bzl", "partition_image_info")

def _icos_vfat_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".img")
    args = ctx.actions.args()
    args.add("--output", out)
    args.add("--size", ctx.attr.image_size)
    args.add("--mtime", str(ctx.attr.mtime))
    if ctx.attr.fat:
        args.add("--fat", str(ctx.attr.fat))
    if ctx.attr.label_name:
        args.add("--label", ctx.attr.label_name)
    if ctx.attr.serial:
        args.add("--serial", ctx.attr.serial)
    inputs = []
    if ctx.file.src:
        args.add("--input", ctx.file.src)
        inputs.append(ctx.file.src)
    for target, dst in sorted(ctx.attr.files.items(), key = lambda kv: kv[1]):
        f = target.files.to_list()
        if len(f) != 1:
            fail("files: %s must be exactly one file" % target.label)
        args.add("--file", "%s:%s" % (f[0].path, dst))
        inputs.append(f[0])
    run_icos(
        ctx,
        subcommand = ["vfat"],
        arguments = args,
        inputs = inputs,
        outputs = [out],
        mnemonic = "IcosVfat",
        progress = "Writing vfat image %{output}",
    )
    return [DefaultInfo(files = depset([out])), partition_image_info(out, "vfat", ctx.attr.image_size)]

icos_vfat = rule(
    implementation = _icos_vfat_impl,
    doc = "Writes a FAT12/16/32 image of exactly `size` bytes with `icos vfat`.",
    attrs = {
        "src": attr.label(doc = "Tar whose tree fills the image.", allow_single_file = [".tar"]),
        "files": attr.label_keyed_string_dict(doc = "Single files: label -> path in the image.", allow_files = True),
        "out": attr.string(doc = "Output file name (default: NAME.img)."),
        "image_size": attr.string(doc = "Image size, e.g. 100M.", mandatory = True),
        "fat": attr.int(doc = "Force FAT 12, 16 or 32 (default: by size)."),
        "label_name": attr.string(doc = "Volume label (upper case, 11 characters at most)."),
        "serial": attr.string(doc = "Volume serial, e.g. 0x12345678."),
        "mtime": attr.int(doc = "Every timestamp (SOURCE_DATE_EPOCH).", default = 0),
    },
    toolchains = [ICOS_TOOLCHAIN],
)
