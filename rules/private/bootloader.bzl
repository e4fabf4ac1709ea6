"""The locked boot loader files as an external repository.

`bootloader.files(name, lock)` makes a repository `@NAME` holding the files of
the lock (ic-os/bootloader/bootloader.lock.json: Debian's signed shim and GRUB),
each exported by its path (`@NAME//:EFI/BOOT/BOOTX64.EFI`), and `//:esp`, a
filegroup of them all. `icos bootloader fetch` downloads the locked .debs from
the archive roots of the host's apt configuration (`$ICOS_APT_ROOT`, default /)
and checks every .deb and file against its sha256 in the lock. The repository
is refetched when the lock or that variable changes. It builds `icos` from this
workspace's source with the host Go toolchain, as base_image.bzl does.
"""

def _go(rctx):
    go = rctx.which("go")
    if go == None:
        go = rctx.path("/usr/local/go/bin/go")
    return go

def _icos_bootloader_impl(rctx):
    lock_path = rctx.path(rctx.attr.lock)
    rctx.watch(lock_path)
    lock = json.decode(rctx.read(lock_path))
    paths = [f["path"] for f in lock["files"]]
    packages = ["%s %s" % (p["name"], p["version"]) for p in lock["packages"]]
    ws = rctx.path(Label("//:go.mod")).dirname

    rctx.report_progress("Building icos to fetch the boot loader files")
    res = rctx.execute(
        [_go(rctx), "build", "-trimpath", "-o", str(rctx.path("icos")), "./tools/cmd/icos"],
        working_directory = str(ws),
        environment = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"},
        timeout = 1200,
    )
    if res.return_code != 0:
        fail("building icos for the boot loader fetch failed:\n" + res.stderr)

    rctx.report_progress("Fetching the boot loader files (%s)" % ", ".join(packages))
    res = rctx.execute(
        [
            str(rctx.path("icos")),
            "bootloader",
            "fetch",
            "--lock",
            str(lock_path),
            "--output",
            ".",
        ],
        timeout = 600,
        quiet = False,
    )
    rctx.delete("icos")
    if res.return_code != 0:
        fail("the boot loader files of %s are not available:\n%s" % (rctx.attr.lock, res.stderr))

    rctx.file("BUILD.bazel", """\
# Boot loader files from {packages}; lock: {lock}.
exports_files({paths})

filegroup(
    name = "esp",
    srcs = {paths},
    visibility = ["//visibility:public"],
)
""".format(
        packages = ", ".join(packages),
        lock = rctx.attr.lock,
        paths = json.encode(paths),
    ))

icos_bootloader = repository_rule(
    implementation = _icos_bootloader_impl,
    doc = "The boot loader files pinned by a lock file (bootloader.lock.json).",
    attrs = {
        "lock": attr.label(doc = "The lock file (bootloader.lock.json).", allow_single_file = True, mandatory = True),
    },
    environ = ["ICOS_APT_ROOT"],
)

_files = tag_class(
    doc = "The files of one boot loader lock.",
    attrs = {
        "name": attr.string(doc = "Repository name.", mandatory = True),
        "lock": attr.label(doc = "The lock file.", mandatory = True),
    },
)

def _bootloader_impl(mctx):
    for mod in mctx.modules:
        for f in mod.tags.files:
            icos_bootloader(name = f.name, lock = f.lock)

bootloader = module_extension(
    implementation = _bootloader_impl,
    doc = "Makes the locked boot loader files an external repository.",
    tag_classes = {"files": _files},
)
