"""icos_initrd: the extra initramfs of an OS, written by `icos initrd`."""

load(":action.bzl", "ICOS_TOOLCHAIN", "run_icos")

def _icos_initrd_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".img")
    args = ctx.actions.args()
    args.add("--rootfs", ctx.file.rootfs)
    args.add("--binary", ctx.executable.binary)
    args.add_all(ctx.attr.kernel_modules, before_each = "--kernel-modules")
    args.add("--mtime", str(ctx.attr.mtime))
    if ctx.attr.zstd:
        args.add("--zstd")
    args.add("--output", out)
    run_icos(
        ctx,
        subcommand = ["initrd"],
        arguments = args,
        inputs = [ctx.file.rootfs, ctx.executable.binary],
        outputs = [out],
        mnemonic = "IcosInitrd",
        progress = "Writing extra initramfs %{output}",
    )
    return [DefaultInfo(files = depset([out]))]

icos_initrd = rule(
    implementation = _icos_initrd_impl,
    doc = "Writes the extra initramfs GRUB loads after the base's initrd.img: icos-node, " +
          "the kernel modules it loads (from the rootfs's /usr/lib/modules) and the " +
          "initramfs-tools local-top script that runs `icos-node verity-root`.",
    attrs = {
        "rootfs": attr.label(doc = "The rootfs tar (icos rootfs) holding the kernel's modules.", allow_single_file = [".tar"], mandatory = True),
        "binary": attr.label(doc = "The static icos-node binary.", executable = True, cfg = "target", mandatory = True),
        "kernel_modules": attr.string_list(doc = "Kernel modules to include, by name; dependencies are added.", mandatory = True),
        "mtime": attr.int(doc = "Modification time of every entry (SOURCE_DATE_EPOCH).", default = 0),
        "zstd": attr.bool(doc = "Compress the archive with zstd.", default = True),
        "out": attr.string(doc = "Output file name (default: NAME.img)."),
    },
    toolchains = [ICOS_TOOLCHAIN],
)
