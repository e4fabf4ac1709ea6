"""icos_pack: files -> sparse tar -> zstd, with a .sha256 beside it."""

load(":action.bzl", "ICOS_TOOLCHAIN", "run_icos")

def _icos_pack_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".tar.zst")
    sha = ctx.actions.declare_file(out.basename + ".sha256", sibling = out)

    # icos pack names entries after their files: give each input its name in
    # the archive with a symlink.
    staged = []
    for target, name in sorted(ctx.attr.srcs.items(), key = lambda kv: kv[1]):
        f = target.files.to_list()
        if len(f) != 1:
            fail("srcs: %s must be exactly one file" % target.label)
        if "/" in name:
            fail("srcs: entry name %r must not contain '/'" % name)
        link = ctx.actions.declare_file("%s_files/%s" % (ctx.label.name, name))
        ctx.actions.symlink(output = link, target_file = f[0])
        staged.append(link)
    args = ctx.actions.args()
    args.add("--output", out)
    if ctx.attr.level:
        args.add("--level", str(ctx.attr.level))
    args.add("--mtime", str(ctx.attr.mtime))
    args.add_all(staged)
    run_icos(
        ctx,
        subcommand = ["pack"],
        arguments = args,
        inputs = staged,
        outputs = [out, sha],
        mnemonic = "IcosPack",
        progress = "Packing %{output}",
    )
    return [DefaultInfo(files = depset([out, sha])), OutputGroupInfo(archive = depset([out]))]

icos_pack = rule(
    implementation = _icos_pack_impl,
    doc = "Packs files into a sparse tar compressed with zstd (e.g. disk-img.tar.zst) plus OUT.sha256. Output group `archive`: the tar alone.",
    attrs = {
        "srcs": attr.label_keyed_string_dict(doc = "Files: label -> entry name in the tar.", allow_files = True, mandatory = True),
        "out": attr.string(doc = "Output file name (default: NAME.tar.zst)."),
        "level": attr.int(doc = "zstd level; 0: icos pack's default (zst.ArchiveLevel)."),
        "mtime": attr.int(doc = "Modification time of the entries.", default = 0),
    },
    toolchains = [ICOS_TOOLCHAIN],
)
