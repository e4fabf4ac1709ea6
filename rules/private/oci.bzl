"""icos_oci_image: a single-layer OCI image layout from a tar (a local base image)."""

load(":action.bzl", "ICOS_TOOLCHAIN", "run_icos")

def _icos_oci_image_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    args = ctx.actions.args()
    args.add("--input", ctx.file.src)
    args.add("--output-layout", out.path)
    args.add("--created", str(ctx.attr.created))
    run_icos(
        ctx,
        subcommand = ["oci", "from-tar"],
        arguments = args,
        inputs = [ctx.file.src],
        outputs = [out],
        mnemonic = "IcosOciImage",
        progress = "Making OCI image layout %{output}",
    )
    return [DefaultInfo(files = depset([out]))]

icos_oci_image = rule(
    implementation = _icos_oci_image_impl,
    doc = """Makes an OCI image layout (a directory) holding one image whose only layer is `src`.

For tests and local experiments; released images use base images pinned by
digest in a lock file (see base_images in MODULE.bazel).""",
    attrs = {
        "src": attr.label(doc = "The layer, a tar.", allow_single_file = [".tar"], mandatory = True),
        "created": attr.int(doc = "Image creation time (SOURCE_DATE_EPOCH).", default = 0),
    },
    toolchains = [ICOS_TOOLCHAIN],
)
