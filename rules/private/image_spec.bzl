"""icos_image_spec: the JSON spec that tools/imagecheck checks an image against."""

_REF = "@ref:"

def _resolve(value, paths):
    """value with every "@ref:NAME" string replaced by the runfiles path of NAME."""
    t = type(value)
    if t == "string":
        if value.startswith(_REF):
            name = value[len(_REF):]
            if name not in paths:
                fail("spec refers to %r, which is not in refs" % name)
            return paths[name]
        return value
    if t == "list":
        return [_resolve(v, paths) for v in value]
    if t == "dict":
        return {k: _resolve(v, paths) for k, v in value.items()}
    return value

def _icos_image_spec_impl(ctx):
    paths = {}
    for target, name in ctx.attr.refs.items():
        files = target.files.to_list()
        if len(files) != 1:
            fail("refs: %s must be one file" % target.label)
        paths[name] = files[0].short_path
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    ctx.actions.write(out, json.encode_indent(_resolve(json.decode(ctx.attr.spec), paths), indent = "  ") + "\n")
    return [DefaultInfo(files = depset([out]))]

icos_image_spec = rule(
    implementation = _icos_image_spec_impl,
    doc = """Writes the spec of an image test (tools/imagecheck): what each partition holds and which files to check.

Strings "@ref:NAME" in `spec` become the runfiles path of the file labelled NAME in `refs`.""",
    attrs = {
        "spec": attr.string(doc = "The spec as JSON, with @ref:NAME placeholders.", mandatory = True),
        "refs": attr.label_keyed_string_dict(doc = "Files the spec refers to: label -> NAME.", allow_files = True),
    },
)
