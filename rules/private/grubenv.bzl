"""icos_grubenv: a GRUB environment block (grubenv) written by `icos grubenv`."""

load(":action.bzl", "ICOS_TOOLCHAIN", "run_icos")

def _icos_grubenv_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name)
    args = ctx.actions.args()
    args.add("--output", out)
    args.add_all(ctx.attr.vars, before_each = "--set")
    run_icos(
        ctx,
        subcommand = ["grubenv"],
        arguments = args,
        inputs = [],
        outputs = [out],
        mnemonic = "IcosGrubenv",
        progress = "Writing GRUB environment block %{output}",
    )
    return [DefaultInfo(files = depset([out]))]

icos_grubenv = rule(
    implementation = _icos_grubenv_impl,
    doc = "Writes a 1024-byte GRUB environment block holding `vars`, in their order (what grub.cfg's load_env reads).",
    attrs = {
        "vars": attr.string_list(doc = "Variables as NAME=VALUE, in order.", mandatory = True),
        "out": attr.string(doc = "Output file name (default: NAME)."),
    },
    toolchains = [ICOS_TOOLCHAIN],
)
