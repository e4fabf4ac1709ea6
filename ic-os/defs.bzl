"""icos_build: the whole image pipeline of one IC-OS operating system and variant.

This is the only macro users call. An OS is described by data
(ic-os/<os>/config.bzl): its partitions (ic-os/layouts.bzl; `partition` and
`volume` from //rules:defs.bzl), components, units and rootfs spec. From that,
in the calling package, it declares the outputs users build:

  disk-img             disk-img.tar.zst (+ .sha256): the disk (GPT from the
                       partition list) as a sparse tar
  disk-img-archive     disk-img.tar.zst alone (what SetupOS puts on its data partition)
  disk.img             the raw disk (tagged manual: never cached, build it on demand)
  update-img           update-img.tar.zst (+ .sha256): boot.img, root.img,
                       VERSION.TXT (OSes with an A/B layout)
  version-txt          version.txt from --//ic-os:version
  image_test           checks the outputs with Debian's tools (tools/imagecheck)
  boot_test            boots the image in QEMU and checks it from inside (tools/boottest)
  launch-local-vm      `bazel run` it: the image in QEMU, console on the terminal
  reproducible_test    (with `twice`) the outputs equal those of a second,
                       independent build declared in another package

and helper targets named NAME_<what> (NAME is icos_build's name):

  NAME_base-tree       the base image flattened (icos rootfs), rebuilt only when the base changes
  NAME_rootfs-tree     base-tree + component files, users, units
  NAME_boot-tree       /boot of rootfs-tree + version.txt (injected late: a version
                       change does not rebuild rootfs-tree or the root filesystem)
  NAME_partitions      partitions.csv generated from the partition list
  NAME_volumes         (an lvm partition) volumes.csv of its logical volumes
  NAME_partition-P     the image of partition or volume P (icos ext4, icos vfat,
                       icos lvm), zstd-compressed (an lvm PV as a sparse .tar.zst)
  NAME_P-tree          the tree of an ext4 partition filled from `files`
  NAME_image-spec      what image_test checks (JSON)
  NAME_slots           slots.cfg of the grub partition: where /boot and / of
                       systems A and B are, for grub.cfg
  NAME_root-hash       (root with verity) the dm-verity root hash of the root filesystem
  NAME_extra-boot-args (root with verity) /boot/extra_boot_args with root_hash=
  NAME_icos-initrd     (root with verity) icos-initrd.img: icos-node and the
                       dm-verity modules, loaded by GRUB after Debian's initrd

The dev variant sets root's password to "root" (DEV_ROOT_PASSWORD_HASH).

Big raw images only ever leave an action compressed, so Bazel's local and
remote caches hold compressed bytes, never multi-GiB runs of zeros.
"""

load("@io_bazel_rules_go//go:def.bzl", "go_test")
load(
    "//rules:defs.bzl",
    "icos_disk",
    "icos_ext4",
    "icos_image_spec",
    "icos_initrd",
    "icos_lvm",
    "icos_pack",
    "icos_rootfs",
    "icos_table",
    "icos_vfat",
    "icos_version_txt",
    "partitions_csv",
    "volumes_csv",
)

# crypt(3) hash of the dev variants' root password "root", from
# `openssl passwd -6 -salt icosdevroot root` (a fixed salt keeps builds
# reproducible; never used by prod images).
DEV_ROOT_PASSWORD_HASH = "$6$icosdevroot$huubnMYP3vlBf2qOC9Vdsub1FSs4vDWHlPgL5m6FOLYjldz2d2bgDrMA5o8ftVqeut5OsOFgpseulviDpnm1D/"

def icos_build(name, mode, base, config, **kwargs):
    """Declares the targets that build one OS image in its variant.

    Args:
      name: name of this build (e.g. "guestos-prod"): the prefix of its
        helper targets; the outputs are named after the IC-OS outputs.
      mode: "prod" or "dev".
      base: the base image's OCI layout (e.g. "@guestos_base_prod//:image").
      config: what the OS is made of: a dict of the arguments of
        icos_os_image below (ic-os/<os>/config.bzl), shared by the variants.
      **kwargs: overrides of config for this variant (e.g. visibility).
    """
    icos_os_image(name = name, mode = mode, base = base, **dict(config, **kwargs))

def icos_os_image(
        name,
        os,
        mode,
        base,
        partitions,
        disk_size,
        components = {},
        units = [],
        rootfs = {},
        update_img = True,
        mtime = 0,
        image_test = True,
        boot_test = {},
        debian = True,
        checks = [],
        max_allocated = "",
        twice = None,
        tags = ["manual"],
        visibility = None):
    """Declares the targets that build one OS image.

    Args:
      name: name of this build (e.g. "guestos-prod"); helper targets are
        named NAME_<what>, the outputs after the IC-OS outputs (disk-img...).
      os: "guestos", "hostos", "setupos" or "boundary-guestos".
      mode: "prod" or "dev".
      base: the base image's OCI layout (e.g. "@guestos_base_prod//:image").
      partitions: the disk layout, a list of partition(...) (see
        //rules/private:partition.bzl): order, sizes, GPT types, and what the
        build writes into each (kind ext4/vfat/lvm/empty, contents, files).
        One ext4 partition or volume has contents "root", one "boot".
      disk_size: final (expanded) disk size, e.g. "50G".
      components: component files, label -> "PATH[:MODE[:UID:GID]]" in the rootfs.
      units: systemd units to enable.
      rootfs: more of the rootfs spec (users, groups, dirs, symlinks,
        hostname...; see tools/rootfs/README.md), a dict.
      update_img: whether to build update-img.tar.zst.
      mtime: SOURCE_DATE_EPOCH of every timestamp in the outputs.
      image_test: declare image_test (tools/imagecheck): the archives, the GPT,
        each partition and volume checked by its kind with Debian's tools,
        unused ones empty, files checked against their sources.
      boot_test: declare boot_test (tools/boottest; {} for none): the image
        booted in QEMU under TCG (KVM where it works) and checked from inside.
        Keys: "root", a regexp the source, type and options of / must match
        (%s: the slot, A or B); "allow_failed", unit -> why it may fail;
        "upgrade" (default True): the A/B test below, where the B slot is
        GPT partitions named B_boot and B_root. dev
        variants log in on the console as root and, with update_img, also
        install update-img into system B, boot it and see GRUB fall back to A.
        prod variants boot the same chain, so they are booted only when their
        root has verity: read from the console (no login), and a copy with a
        flipped byte in the root must not boot.
      debian: the base is a Debian system: image_test also checks kernel and
        initrd on boot, systemd on root and root's password (locked in prod,
        DEV_ROOT_PASSWORD_HASH in dev).
      checks: more image_test file checks (tools/imagecheck's format; "@boot"
        and "@root" name the boot and root filesystems).
      max_allocated: image_test: the most the raw disk may allocate (a size);
        default: half its size.
      twice: the package of a second icos_build of the same OS and variant
        (e.g. "//ic-os/guestos/envs/prod/twice"): declares reproducible_test,
        which requires both builds' disk-img and update-img to be identical.
      tags: tags of every image target. Default "manual": `bazel build //...`
        builds images only through the tests, which are not manual.
      visibility: visibility of the outputs.
    """
    if mode not in ("prod", "dev"):
        fail("mode must be prod or dev, got %r" % mode)
    common = dict(tags = tags, visibility = visibility)

    # A locked base image repository (@X//:image) tells whether it is the
    # pinned image (see rules/private/base_image.bzl); version.txt shows it.
    base_status = None
    if base.startswith("@") and base.endswith("//:image"):
        base_status = base[:-len("image")] + "status"
    icos_version_txt(name = "version-txt", out = "version.txt", base_status = base_status, **common)

    # The rootfs spec: encoded once here, decoded once by icos_rootfs.
    # Mount points under /boot exist in every image.
    spec = dict(rootfs)
    if mode == "dev":
        spec["passwords"] = [{"user": "root", "hash": DEV_ROOT_PASSWORD_HASH}] + spec.get("passwords", [])
    spec["dirs"] = [
        {"path": "/boot/" + d, "mode": "0755", "uid": 0, "gid": 0}
        for d in ("config", "efi", "grub")
    ] + spec.get("dirs", [])
    if debian:
        # GRUB loads /vmlinuz and /initrd.img of the boot filesystem: links
        # next to the versioned files, where Debian's links in / point.
        spec["symlinks"] = [
            {"path": "/boot/" + f, "target_of": "/" + f}
            for f in ("vmlinuz", "initrd.img")
        ] + spec.get("symlinks", [])

    # The base image flattened once: it reruns only when the base changes.
    icos_rootfs(name = _t(name, "base-tree"), base = base, mtime = mtime, **common)
    icos_rootfs(
        name = _t(name, "rootfs-tree"),
        base_tar = _r(name, "base-tree"),
        files = components,
        units = units,
        extra_spec = json.encode(spec),
        mtime = mtime,
        **common
    )

    # version.txt joins /boot late, in a tar of /boot alone, so a version
    # change rebuilds only the boot filesystem, not the rootfs tree or root.
    boot_files = {":version-txt": "/boot/version.txt"}
    root = _with_contents(partitions, "root")
    if root and root.get("verity"):
        # The root hash of this system's root filesystem, for the initramfs.
        native.filegroup(name = _t(name, "root-hash"), srcs = [_r(name, "partition-" + root["name"])], output_group = "root_hash", **common)
        native.genrule(
            name = _t(name, "extra-boot-args"),
            srcs = [_r(name, "root-hash")],
            outs = [_t(name, "extra_boot_args")],
            cmd = "printf 'EXTRA_BOOT_ARGS=\"root_hash=%%s root_hash_offset=%d\"\\n' \"$$(cat $<)\" > $@" % _bytes(root["fs_size"]),
            **common
        )
        boot_files[_r(name, "extra-boot-args")] = "/boot/extra_boot_args"

        # The initramfs step that opens the root through dm-verity.
        icos_initrd(
            name = _t(name, "icos-initrd"),
            rootfs = _r(name, "rootfs-tree"),
            binary = "//tools/cmd/icos-node",
            kernel_modules = ["dm-verity"],
            mtime = mtime,
            **common
        )
        boot_files[_r(name, "icos-initrd")] = "/boot/icos-initrd.img"
    icos_rootfs(
        name = _t(name, "boot-tree"),
        base_tar = _r(name, "rootfs-tree"),
        files = boot_files,
        only = ["boot"],
        mtime = mtime,
        **common
    )

    images = {}
    roles = {}
    for p in partitions:
        if p["kind"] == "empty":
            continue
        if p["kind"] == "lvm":
            volume_images = {}
            for v in p["volumes"]:
                if v["kind"] != "empty":
                    volume_images[_image(name, mode, v, roles, mtime, common)] = v["name"]
            icos_table(name = _t(name, "volumes"), content = volumes_csv(p["volumes"]), out = _t(name, "volumes.csv"), **common)
            icos_lvm(
                name = _t(name, "partition-" + p["name"]),
                volumes = _r(name, "volumes"),
                images = volume_images,
                image_size = p["fs_size"],
                # A sparse archive, not plain .zst: a volume group of ~100 GiB
                # is mostly holes, which cost nothing to pack and unpack this way.
                out = _t(name, "partition-%s.img.tar.zst" % p["name"]),
                **dict(p["lvm"], **common)
            )
            images[_r(name, "partition-" + p["name"])] = p["name"]
        else:
            images[_image(name, mode, p, roles, mtime, common)] = p["name"]

    icos_table(name = _t(name, "partitions"), content = partitions_csv(partitions), out = _t(name, "partitions.csv"), **common)
    if [p for p in partitions if p["contents"] == "grub"]:
        icos_table(name = _t(name, "slots"), content = _slots_cfg(partitions), out = _t(name, "slots.cfg"), **common)
    disk_args = dict(partitions = _r(name, "partitions"), images = images, image_size = disk_size)
    icos_disk(name = "disk-img", out = "disk-img.tar.zst", **dict(disk_args, **common))
    native.filegroup(name = "disk-img-archive", srcs = [":disk-img"], output_group = "archive", **common)
    icos_disk(name = "disk.img", out = "disk.img", tags = tags + ["manual", "no-cache"], visibility = visibility, **disk_args)

    if update_img:
        if "boot" not in roles or "root" not in roles:
            fail("update_img needs partitions with contents boot and root")
        icos_pack(
            name = "update-img",
            srcs = {
                _r(name, "partition-" + roles["boot"]): "boot.img.zst",
                _r(name, "partition-" + roles["root"]): "root.img.zst",
                ":version-txt": "VERSION.TXT",
            },
            out = "update-img.tar.zst",
            mtime = mtime,
            **common
        )
        native.filegroup(name = _t(name, "update-img-archive"), srcs = [":update-img"], output_group = "archive", **common)

    test_tags = [t for t in tags if t != "manual"]
    if boot_test and (mode == "dev" or (root and root.get("verity"))):
        _boot_test(name, mode, root, update_img, boot_test, test_tags)
    native.sh_binary(
        name = "launch-local-vm",
        srcs = ["//tools/vm:launch-local-vm.sh"],
        args = ["$(rootpath //tools/cmd/icos)", "$(rootpath :disk-img-archive)"],
        data = ["//tools/cmd/icos", ":disk-img-archive"],
        **common
    )
    if image_test:
        _image_test(name, os, mode, partitions, disk_size, roles, spec.get("hostname", os), update_img, debian, checks, max_allocated, test_tags)
    if twice:
        outputs = [":disk-img"] + ([":update-img"] if update_img else [])
        theirs = ["%s%s" % (twice, o) for o in outputs]
        native.sh_test(
            name = "reproducible_test",
            size = "small",
            srcs = ["//ic-os:reproducible_test.sh"],
            args = ["$(rootpaths %s)" % o for o in outputs + theirs],
            data = outputs + theirs,
            tags = test_tags,
        )

def _t(name, what):
    """The name of a helper target of build name."""
    return "%s_%s" % (name, what)

def _r(name, what):
    """The label of a helper target of build name."""
    return ":" + _t(name, what)

# What an ext4 filesystem with `contents` is cut from: a tree of the build,
# the directory of it that becomes the filesystem's root, and the
# directories whose contents are left out (kept as empty mount points).
_CONTENTS = {
    "root": struct(tree = "rootfs-tree", subdir = "", strip = ["boot", "run"]),
    "boot": struct(tree = "boot-tree", subdir = "boot", strip = ["efi", "grub", "config"]),
    "config": struct(tree = "rootfs-tree", subdir = "boot/config", strip = []),
}

_UNITS = {"": 1, "B": 1, "s": 512, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

def _bytes(size):
    """The bytes of a size in the icos size grammar (3G, 3GiB, 2048s, 4096)."""
    n = size.removesuffix("iB") if size.endswith("iB") else size
    unit = n[-1] if n and not n[-1].isdigit() else ""
    digits = n[:len(n) - len(unit)]
    if not digits.isdigit() or unit not in _UNITS:
        fail("size %r: want digits and one of K M G T (KiB MiB GiB TiB), s or B" % size)
    return int(digits) * _UNITS[unit]

def _with_contents(partitions, contents):
    """The partition or volume of the layout whose contents is `contents`, or None."""
    for p in partitions:
        for e in [p] + p.get("volumes", []):
            if e["contents"] == contents:
                return e
    return None

def _slots_cfg(partitions):
    """slots.cfg for grub.cfg: per system (A, B) the GRUB device of /boot and
    the kernel's root= of /, from the layout. Partitions named A_x have a B_x
    in the same table; a layout without A_ names has one system (B = A)."""
    places = {}  # partition or volume name -> (GRUB device, root=)
    for i, p in enumerate(partitions):
        places[p["name"]] = ("($boot_disk,gpt%d)" % (i + 1), "PARTLABEL=" + p["name"])
        for v in p.get("volumes", []):
            dm = "%s-%s" % (p["lvm"]["vg_name"].replace("-", "--"), v["name"].replace("-", "--"))
            places[v["name"]] = ("(lvm/%s)" % dm, "/dev/mapper/" + dm)
    lines = [
        "# Generated by icos_build from the disk layout: the GRUB device holding",
        "# /boot and the kernel's root= of systems A and B (see grub.cfg).",
    ]
    for contents, var, pick in (("boot", "boot", 0), ("root", "root", 1)):
        e = _with_contents(partitions, contents)
        if not e:
            fail("grub contents need partitions with contents boot and root")
        a = e["name"]
        b = "B_" + a[2:] if a.startswith("A_") else a
        if b not in places:
            fail("%s: no %s for system B" % (a, b))
        lines.append("set %s_A=%s" % (var, places[a][pick]))
        lines.append("set %s_B=%s" % (var, places[b][pick]))
    return "\n".join(lines) + "\n"

def _files(mode, files):
    return {label.format(mode = mode): path for label, path in files.items()}

def _image(name, mode, p, roles, mtime, common):
    """Declares the image of partition or volume p; returns its label."""
    target = _t(name, "partition-" + p["name"])
    out = target + ".img.zst"
    if p["kind"] == "vfat":
        files = _files(mode, p["files"])
        if p["contents"] == "grub":
            files[_r(name, "slots")] = "slots.cfg"
        elif p["contents"]:
            fail("%s: vfat contents %r: only grub" % (p["name"], p["contents"]))
        icos_vfat(
            name = target,
            files = files,
            image_size = p["fs_size"],
            fat = p["fat"],
            label_name = p["label"],
            mtime = mtime,
            out = out,
            **common
        )
    elif p["kind"] == "ext4":
        if p["contents"]:
            if p["contents"] not in _CONTENTS:
                fail("%s: contents %r is not one of %s" % (p["name"], p["contents"], ", ".join(_CONTENTS)))
            if p["contents"] in roles:
                fail("%s: contents %s already fill %s" % (p["name"], p["contents"], roles[p["contents"]]))
            roles[p["contents"]] = p["name"]
            c = _CONTENTS[p["contents"]]
            src, subdir, strip = _r(name, c.tree), c.subdir, c.strip
        else:
            src, subdir, strip = _r(name, p["name"] + "-tree"), "", []
            icos_rootfs(name = _t(name, p["name"] + "-tree"), files = _files(mode, p["files"]), mtime = mtime, **common)
        icos_ext4(
            name = target,
            src = src,
            subdir = subdir,
            strip = strip,
            image_size = p["fs_size"],
            label_name = p["label"],
            verity_salt = p.get("verity", {}).get("salt", ""),
            verity_uuid = p.get("verity", {}).get("uuid", ""),
            mtime = mtime,
            out = out,
            **common
        )
        if p.get("verity") and p["contents"] != "root":
            fail("%s: verity is for the partition with contents root" % p["name"])
    else:
        fail("%s: no image for kind %s" % (p["name"], p["kind"]))
    return ":" + target

def _quoted(arg):
    """arg as one word through the shell tokenization of test args."""
    if "'" in arg:
        fail("test argument %r: no ' please" % arg)
    return "'%s'" % arg

def _boot_test(name, mode, root, update_img, spec, tags):
    """Declares boot_test: tools/boottest/boot run on the disk image."""
    verity = bool(root.get("verity"))
    args = ["-test.v", "-disk", "$(rootpath :disk-img-archive)"]
    data = [":disk-img-archive"]
    if verity:
        args.append("-verity")
    if spec.get("root"):
        args.append(_quoted("-root=" + spec["root"]))
    for unit, why in sorted(spec.get("allow_failed", {}).items()):
        args.append(_quoted("-allow-failed=%s=%s" % (unit, why)))
    if mode == "dev":
        args += ["-login", "root:root"]
        if update_img and spec.get("upgrade", True):
            args += ["-upgrade", "-update", "$(rootpath %s)" % _r(name, "update-img-archive")]
            data.append(_r(name, "update-img-archive"))
    elif verity:
        args.append("-corrupt")
    go_test(
        name = "boot_test",
        size = "enormous",
        srcs = ["//tools/boottest/boot:boot_test.go"],
        deps = ["//tools/boottest", "//tools/grubenv", "//tools/vm"],
        args = args,
        data = data,
        tags = tags,
    )

def _image_test(name, os, mode, partitions, disk_size, roles, hostname, update_img, debian, checks, max_allocated, tags):
    """Declares image_test: tools/imagecheck run on a spec made from the partition list."""
    refs = {":disk-img-archive": "disk", ":version-txt": "version"}
    files = []
    parts = []

    for p in partitions:
        entry = {"name": p["name"], "kind": p["kind"]}
        if p["kind"] == "lvm":
            entry["volumes"] = [{"name": v["name"], "kind": v["kind"]} for v in p["volumes"]]
        parts.append(entry)
        if p["contents"] == "grub":
            refs[_r(name, "slots")] = "slots"
            files.append({"fs": p["name"], "path": "/slots.cfg", "equals_file": "@ref:slots"})
        for fs in [p] + p.get("volumes", []):
            for label, path in sorted(_files(mode, fs["files"]).items()):
                if label not in refs:
                    refs[label] = "file%d" % len(refs)
                files.append({"fs": fs["name"], "path": "/" + path.lstrip("/"), "equals_file": "@ref:" + refs[label]})
    boot, root = roles.get("boot"), roles.get("root")
    if boot:
        files.append({"fs": boot, "path": "/version.txt", "equals_file": "@ref:version"})
    if root:
        files.append({"fs": root, "path": "/etc/hostname", "equals": hostname + "\n"})
        files.append({"fs": root, "dir": "/boot", "lacks_prefix": "vmlinuz"})
    spec = {
        "name": "%s %s" % (os, mode),
        "disk": {"archive": "@ref:disk", "entry": "disk.img", "size": disk_size},
        "partitions": parts,
    }
    if max_allocated:
        spec["disk"]["max_allocated"] = max_allocated
    if debian:
        files += [
            {"fs": boot, "dir": "/", "has_prefix": "vmlinuz-"},
            {"fs": boot, "dir": "/", "has_prefix": "initrd.img-"},
            {"fs": boot, "path": "/vmlinuz", "type": "symlink"},
            {"fs": boot, "path": "/initrd.img", "type": "symlink"},
            {"fs": root, "path": "/usr/lib/systemd/systemd", "type": "regular"},
        ]
        spec["shadow"] = {"fs": root, "user": "root"}
        if mode == "dev":
            spec["shadow"]["hash"] = DEV_ROOT_PASSWORD_HASH
        else:
            spec["shadow"]["locked"] = True
    for c in checks:
        c = dict(c)
        c["fs"] = {"@boot": boot, "@root": root}.get(c["fs"], c["fs"])
        files.append(c)
    spec["files"] = files
    data = [":disk-img", ":version-txt"]
    if update_img:
        refs[_r(name, "update-img-archive")] = "update"
        spec["update"] = {
            "archive": "@ref:update",
            "entries": {
                "VERSION.TXT": {"equals_file": "@ref:version"},
                "boot.img": {"partition": boot},
                "root.img": {"partition": root},
            },
        }
        data.append(":update-img")
    icos_image_spec(name = _t(name, "image-spec"), spec = json.encode(spec), refs = refs, tags = tags)
    go_test(
        name = "image_test",
        size = "large",
        srcs = ["//tools/imagecheck/imagetest:image_test.go"],
        deps = ["//tools/imagecheck"],
        args = ["-spec", "$(rootpath %s)" % _r(name, "image-spec")],
        data = data + [_r(name, "image-spec")] + sorted([l for l in refs if l not in data]),
        tags = tags,
    )
