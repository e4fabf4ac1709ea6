"""Locked base images as external repositories.

Each `base_images.image(name, lock)` tag makes a repository `@NAME` whose
`//:image` target is the base image as an OCI image layout, fetched by the
digest pinned in the lock: from the local OCI store (`$ICOS_OCI_STORE`, default
~/.cache/icos/oci), else from the registries in `$ICOS_REGISTRIES`, the digest
verified either way; else it is built from the lock with mmdebstrap inside the
pinned builder (`//toolchains/base-builder:builder.lock.json`: exactly the
locked package versions; 2-5 minutes per image on 2 cores, plus half a minute
the first time to make the builder) and its digest checked against the pin. A build that does not reproduce the pin fails, saying what differs
and what to do, unless `ICOS_ALLOW_UNPINNED_BASE=1` is set: then the local
image is used and `//:status` marks the build unpinned, which version.txt
shows. The repository is refetched when the lock, the builder lock or one of these
variables changes. It builds `icos` from this workspace's source with the host Go
toolchain, the same Go that rules_go uses (`go_sdk.host()`).
"""

BaseStatusInfo = provider(
    doc = "Whether a base image is the one its lock pins.",
    fields = {"digest": "the image digest used", "pinned": "True when it is the lock's digest"},
)

def _base_status_impl(ctx):
    return [BaseStatusInfo(digest = ctx.attr.digest, pinned = ctx.attr.pinned)]

icos_base_status = rule(
    implementation = _base_status_impl,
    doc = "The pin status of a base image repository (written by icos_base_image).",
    attrs = {
        "digest": attr.string(mandatory = True),
        "pinned": attr.bool(mandatory = True),
    },
)

def _go(rctx):
    go = rctx.which("go")
    if go == None:
        go = rctx.path("/usr/local/go/bin/go")
    return go

def _icos_base_image_impl(rctx):
    lock_path = rctx.path(rctx.attr.lock)
    builder_lock = rctx.path(rctx.attr.builder_lock)
    rctx.watch(builder_lock)
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

    rctx.report_progress("Fetching base image %s (%s %s); if it is nowhere, building it from the lock in the pinned builder (%d packages, 2-5 min on 2 cores; progress below)" % (digest, lock["os"], lock["variant"], len(lock["packages"])))
    rctx.file("tmp/.keep", "")
    res = rctx.execute(
        [
            str(rctx.path("icos")),
            "base",
            "fetch",
            "--lock",
            str(lock_path),
            "--oci-layout",
            "layout",
            "--build-missing",
            "--builder-lock",
            str(builder_lock),
            "--tmpdir",
            str(rctx.path("tmp")),
            "--status",
            "status.txt",
        ],
        timeout = 7200,
        quiet = False,
    )
    rctx.delete("tmp")
    rctx.delete("icos")
    if res.return_code != 0:
        fail("base image %s for %s (%s) is not available:\n%s" % (digest, lock["os"], lock["variant"], res.stderr))
    state, used = rctx.read("status.txt").strip().split(" ")

    rctx.file("BUILD.bazel", """\
# Base image {used} of {os} ({variant}), {state}; lock: {lock}.
load("{bzl}", "icos_base_status")

filegroup(
    name = "image",
    srcs = glob(["layout/**"]),
    visibility = ["//visibility:public"],
)

icos_base_status(
    name = "status",
    digest = "{used}",
    pinned = {pinned},
    visibility = ["//visibility:public"],
)

exports_files(["digest.txt", "status.txt"])
""".format(
        used = used,
        os = lock["os"],
        variant = lock["variant"],
        state = state,
        lock = rctx.attr.lock,
        bzl = str(Label("//rules/private:base_image.bzl")),
        pinned = "True" if state == "pinned" else "False",
    ))
    rctx.file("digest.txt", used + "\n")

icos_base_image = repository_rule(
    implementation = _icos_base_image_impl,
    doc = "An OCI image layout holding the base image pinned by a lock file.",
    attrs = {
        "lock": attr.label(doc = "The lock file (base.lock.json).", allow_single_file = True, mandatory = True),
        "builder_lock": attr.label(
            doc = "The builder lock: the environment a missing image is built in.",
            allow_single_file = True,
            default = Label("//toolchains/base-builder:builder.lock.json"),
        ),
    },
    environ = ["ICOS_OCI_STORE", "ICOS_REGISTRIES", "ICOS_ALLOW_UNPINNED_BASE", "ICOS_APT_ROOT", "ICOS_BUILDER_CACHE"],
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
