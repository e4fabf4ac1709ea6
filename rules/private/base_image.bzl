"""Locked base images as external repositories.

Each `base_images.image(name, lock)` tag makes a repository `@NAME` whose
`//:image` target is the base image as an OCI image layout, fetched by the
digest pinned in the lock: from the local OCI store (`$ICOS_OCI_STORE`, default
~/.cache/icos/oci), else from the registries in `$ICOS_REGISTRIES`, the digest
verified either way. The repository is refetched only when the lock changes.

A base image that is nowhere to be found fails the build with the digest, the
places searched and the command that builds it (`icos base build`, which needs
root and mmdebstrap and so runs outside Bazel; `tools/bazel` runs it for you,
see README). The repository builds `icos` from this workspace's source with
the host Go toolchain, the same Go that rules_go uses (`go_sdk.host()`).
"""

def _go(rctx):
    go = rctx.which("go")
    if go == None:
        go = rctx.path("/usr/local/go/bin/go")
    return go

def _icos_base_image_impl(rctx):
    lock_path = rctx.path(rctx.attr.lock)
    lock = json.decode(rctx.read(lock_path))
    digest = lock["image"]["digest"]
    ws = rctx.path(Label("//:go.mod")).dirname

    rctx.report_progress("Building icos to fetch base image %s" % digest)
    res = rctx.execute(
        [_go(rctx), "build", "-trimpath", "-o", str(rctx.path("icos")), "./tools/cmd/icos"],
        working_directory = str(ws),
        environment = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"},
        timeout = 1200,
    )
    if res.return_code != 0:
        fail("building icos for the base image fetch failed:\n" + res.stderr)

    rctx.report_progress("Fetching base image %s (%s %s)" % (digest, lock["os"], lock["variant"]))
    res = rctx.execute(
        [str(rctx.path("icos")), "base", "fetch", "--lock", str(lock_path), "--oci-layout", "layout"],
        timeout = 3600,
        quiet = False,
    )
    if res.return_code != 0:
        fail("base image %s for %s (%s) is not available:\n%s" % (digest, lock["os"], lock["variant"], res.stderr))
    rctx.delete("icos")

    rctx.file("BUILD.bazel", """\
# Base image {digest} of {os} ({variant}), from {lock}.
filegroup(
    name = "image",
    srcs = glob(["layout/**"]),
    visibility = ["//visibility:public"],
)

exports_files(["digest.txt"])
""".format(digest = digest, os = lock["os"], variant = lock["variant"], lock = rctx.attr.lock))
    rctx.file("digest.txt", digest + "\n")

icos_base_image = repository_rule(
    implementation = _icos_base_image_impl,
    doc = "An OCI image layout holding the base image pinned by a lock file.",
    attrs = {
        "lock": attr.label(doc = "The lock file (base.lock.json).", allow_single_file = True, mandatory = True),
    },
    environ = ["ICOS_OCI_STORE", "ICOS_REGISTRIES"],
)

_image = tag_class(
    doc = "One locked base image.",
    attrs = {
        "name": attr.string(doc = "Repository name.", mandatory = True),
        "lock": attr.label(doc = "The lock file.", mandatory = True),
    },
)

def _base_images_impl(mctx):
    for mod in mctx.modules:
        for img in mod.tags.image:
            icos_base_image(name = img.name, lock = img.lock)

base_images = module_extension(
    implementation = _base_images_impl,
    doc = "Makes each locked base image an external repository.",
    tag_classes = {"image": _image},
)
