"""icos_image_spec: the JSON spec that tools/imagecheck checks an image against."""

def _icos_image_spec_impl(ctx):
    paths = {}
    for target, name in ctx.attr.refs.items():
        files = target.files.to_list()
        if len(files) != 1:
            fail("refs: %s must be one file" % target.label)
        paths[name] = files[0].short_path
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    # Replace each quoted placeholder, closing quote included, so that
    # "@ref:file1" never matches inside "@ref:file12".
    text = json.encode_indent(json.decode(ctx.attr.spec), indent = "  ")
    for name, path in paths.items():
        text = text.replace(json.encode("@ref:" + name), json.encode(path))
    if "\"@ref:" in text:
        fail("spec refers to a name that is not in refs: " + text[text.index("\"@ref:"):].split(",")[0])
    ctx.actions.write(out, text + "\n")
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
