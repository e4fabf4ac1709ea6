"""The IC-OS version: a build setting and the version.txt written from it."""

load(":base_image.bzl", "BaseStatusInfo")

VersionInfo = provider(doc = "The version string of a build.", fields = {"version": "string"})

def _version_setting_impl(ctx):
    return [VersionInfo(version = ctx.build_setting_value)]

icos_version_setting = rule(
    implementation = _version_setting_impl,
    doc = "A string build setting holding the IC-OS version (set it with --//ic-os:version=...).",
    build_setting = config.string(flag = True),
)

def _icos_version_txt_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".txt")
    version = ctx.attr.version[VersionInfo].version + ctx.attr.suffix
    if ctx.attr.base_status and not ctx.attr.base_status[BaseStatusInfo].pinned:
        version += "+unpinned-base"
    ctx.actions.write(out, version + "\n")
    return [DefaultInfo(files = depset([out]))]

icos_version_txt = rule(
    implementation = _icos_version_txt_impl,
    doc = """Writes version.txt from the version build setting.

The version comes from a build setting, not from git, so a build stays
cacheable across commits; release builds pass --//ic-os:version=...""",
    attrs = {
        "version": attr.label(doc = "The version build setting.", default = "//ic-os:version", providers = [VersionInfo]),
        "suffix": attr.string(doc = "Appended to the version (e.g. -test for the upgrade-test variant)."),
        "base_status": attr.label(doc = "The base image repository's //:status: an unpinned base appends +unpinned-base.", providers = [BaseStatusInfo]),
        "out": attr.string(doc = "Output file name (default: NAME.txt)."),
    },
)
