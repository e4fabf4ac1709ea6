"""Running one icos subcommand as one Bazel action."""

ICOS_TOOLCHAIN = "//toolchains/icos:toolchain_type"

# Actions see no variables from the user's shell except these fixed ones, so
# no output depends on the host's time zone or locale.
_ENV = {
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
}

def run_icos(ctx, *, subcommand, arguments, inputs, outputs, mnemonic, progress, execution_requirements = None):
    """Registers an action that runs `icos SUBCOMMAND ARGUMENTS...`.

    Args:
      ctx: the rule context (its rule must declare the icos toolchain).
      subcommand: list of words, e.g. ["tar", "normalize"].
      arguments: an Args object with the flags.
      inputs: list or depset of input Files.
      outputs: list of output Files.
      mnemonic: the action's mnemonic (shown in profiles).
      progress: the progress message.
      execution_requirements: passed on to the action.
    """
    icos = ctx.toolchains[ICOS_TOOLCHAIN].icos
    ctx.actions.run(
        executable = icos,
        arguments = [ctx.actions.args().add_all(subcommand), arguments],
        inputs = inputs,
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress,
        env = _ENV,
        execution_requirements = execution_requirements,
    )
