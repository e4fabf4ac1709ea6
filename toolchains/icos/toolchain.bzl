"""The icos toolchain: how rules reach the `icos` binary.

Rules never name //tools/cmd/icos directly; they ask for a toolchain of type
//toolchains/icos:toolchain_type. The binary is built from source by rules_go
for the execution platform, so the same rules work with local or remote
execution.
"""

def _icos_toolchain_impl(ctx):
    return [platform_common.ToolchainInfo(
        icos = ctx.attr.icos[DefaultInfo].files_to_run,
    )]

icos_toolchain = rule(
    implementation = _icos_toolchain_impl,
    doc = "Declares the icos binary used by the IC-OS image rules.",
    attrs = {
        "icos": attr.label(
            doc = "The icos binary.",
            executable = True,
            cfg = "exec",
            mandatory = True,
        ),
    },
)
