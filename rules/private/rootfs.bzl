"""icos_rootfs: base image + component files -> one normalized rootfs tar."""

load(":action.bzl", "ICOS_TOOLCHAIN", "run_icos")

def _layout_dir(files):
    if len(files) == 1 and files[0].is_directory:
        return files[0].path
    for f in files:
        if f.basename == "index.json":
            return f.dirname
    fail("base: no index.json among the base image's files (want an OCI image layout)")

def _icos_rootfs_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".tar")
    spec = json.decode(ctx.attr.extra_spec) if ctx.attr.extra_spec else {}
    inputs = []
    files = list(spec.get("files", []))
    for target, dest in ctx.attr.files.items():
        srcs = target.files.to_list()
        if len(srcs) != 1:
            fail("files: %s must be exactly one file" % target.label)
        parts = dest.split(":")
        path = parts[0]
        mode = parts[1] if len(parts) > 1 else "0644"
        uid = int(parts[2]) if len(parts) > 2 else 0
        gid = int(parts[3]) if len(parts) > 3 else 0
        files.append({"src": srcs[0].path, "path": path, "mode": mode, "uid": uid, "gid": gid})
        inputs.append(srcs[0])
    if files:
        spec["files"] = sorted(files, key = lambda f: f["path"])
    if ctx.attr.units:
        spec["units"] = list(spec.get("units", [])) + ctx.attr.units
    spec_file = ctx.actions.declare_file(ctx.label.name + ".spec.json")
    ctx.actions.write(spec_file, json.encode_indent(spec, indent = "  ") + "\n")

    base = ctx.files.base
    args = ctx.actions.args()
    if base and ctx.file.base_tar:
        fail("give base or base_tar, not both")
    if base:
        args.add("--oci-layout", _layout_dir(base))
    elif ctx.file.base_tar:
        base = [ctx.file.base_tar]
        args.add("--base-tar", ctx.file.base_tar)
    else:
        args.add("--empty")
    if ctx.attr.digest:
        args.add("--image", ctx.attr.digest)
    args.add("--spec", spec_file)
    args.add("--spec-base", ".")
    args.add("--output", out)
    args.add("--mtime", str(ctx.attr.mtime))
    args.add_all(ctx.attr.exclude, before_each = "--exclude")
    args.add_all(ctx.attr.only, before_each = "--only")
    run_icos(
        ctx,
        subcommand = ["rootfs"],
        arguments = args,
        inputs = base + inputs + [spec_file],
        outputs = [out],
        mnemonic = "IcosRootfs",
        progress = "Flattening base image and components into %{output}",
        # go-containerregistry refuses OCI layout blobs that are symlinks,
        # which is how local sandboxes present inputs. Remote execution
        # stages real files and is unaffected.
        execution_requirements = {"no-sandbox": "1"} if ctx.files.base else {},
    )
    return [DefaultInfo(files = depset([out]))]

icos_rootfs = rule(
    implementation = _icos_rootfs_impl,
    doc = """Flattens a pinned base image and lays component files on top, with `icos rootfs`.

The spec (see tools/rootfs/README.md) is generated from `files` and `units`
plus the JSON in `extra_spec` (users, groups, dirs, symlinks, removals, ...).""",
    attrs = {
        "base": attr.label(doc = "The base image as an OCI image layout (all its files, or one directory); none: the tar holds only the spec's entries.", allow_files = True),
        "base_tar": attr.label(doc = "Instead of base: a tar to start from, e.g. an earlier icos_rootfs of the base image alone, so a component change does not flatten the base again.", allow_single_file = [".tar"]),
        "digest": attr.string(doc = "Manifest digest to take from the layout (sha256:...)."),
        "files": attr.label_keyed_string_dict(
            doc = "Component files: label -> 'PATH[:MODE[:UID:GID]]' in the image (mode octal, default 0644).",
            allow_files = True,
        ),
        "units": attr.string_list(doc = "systemd units to enable."),
        "extra_spec": attr.string(doc = "More of the spec, as JSON (dirs, symlinks, users, groups, remove, hostname, ...)."),
        "exclude": attr.string_list(doc = "Globs left out of the tar (e.g. 'run/*').", default = ["run/*"]),
        "only": attr.string_list(doc = "Keep just these directories (and their parents), e.g. ['boot']."),
        "mtime": attr.int(doc = "mtime of every entry (SOURCE_DATE_EPOCH).", default = 0),
        "out": attr.string(doc = "Output file name (default: NAME.tar)."),
    },
    toolchains = [ICOS_TOOLCHAIN],
)
