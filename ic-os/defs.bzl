"""icos_build: the whole image pipeline of one IC-OS operating system and variant.

This is the only macro users call. Given a pinned base image, component files
and a partition table it declares, in the calling package:

  version-txt          version.txt from --//ic-os:version
  base-tree.tar        the base image flattened (icos rootfs), rebuilt only when the base changes
  rootfs-tree.tar      base-tree.tar + component files, users, units (icos rootfs)
  boot-tree.tar        /boot of rootfs-tree.tar + version.txt (injected late: a version
                       change does not rebuild rootfs-tree or the root filesystem)
  partition-root.img.zst, partition-boot.img.zst, partition-config.img.zst
                       ext4 filesystems (icos ext4), zstd-compressed
  partition-esp.img.zst, partition-grub.img.zst
                       vfat filesystems (icos vfat)
  partition-hostlvm.img.tar.zst
                       (HostOS) the LVM physical volume holding config/A_*/B_*/guestos,
                       as a sparse archive
  disk-img.tar.zst     (+ .sha256) the disk: GPT from partitions.csv, as a sparse tar
  disk.img             the raw disk (tagged manual: never cached, build it on demand)
  update-img.tar.zst   (+ .sha256) boot.img, root.img, VERSION.TXT (not for SetupOS)
  disk-img-archive     disk-img.tar.zst alone (what SetupOS puts on its data partition)
  partition-data.img.zst
                       (SetupOS) ext4 holding the HostOS and GuestOS disk-img.tar.zst
  image_test           checks the outputs with Debian's tools (ic-os/image_test.sh)
  reproducible_test    (with `twice`) the outputs equal those of a second,
                       independent build declared in another package

The dev variant sets root's password to "root" (DEV_ROOT_PASSWORD_HASH).

Big raw images only ever leave an action compressed, so Bazel's local and
remote caches hold compressed bytes, never multi-GiB runs of zeros.
"""

load(
    "//rules:defs.bzl",
    "icos_disk",
    "icos_ext4",
    "icos_lvm",
    "icos_pack",
    "icos_rootfs",
    "icos_vfat",
    "icos_version_txt",
)

# crypt(3) hash of the dev variants' root password "root", from
# `openssl passwd -6 -salt icosdevroot root` (a fixed salt keeps builds
# reproducible; never used by prod images).
DEV_ROOT_PASSWORD_HASH = "$6$icosdevroot$huubnMYP3vlBf2qOC9Vdsub1FSs4vDWHlPgL5m6FOLYjldz2d2bgDrMA5o8ftVqeut5OsOFgpseulviDpnm1D/"

def icos_build(name, mode, base, config, **kwargs):
    """Declares the targets that build one OS image in its variant.

    Args:
      name: name of this build, for documentation (e.g. "guestos-prod");
        the targets are named after the IC-OS outputs.
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
        extra_spec = "",
        root_size = "3G",
        boot_size = "1G",
        config_size = "100M",
        config_fat = False,
        config_files = {},
        grub_files = {},
        esp_files = {},
        volumes = None,
        lvm = {},
        extra_partitions = {},
        data_files = {},
        data_size = "2560M",
        update_img = True,
        mtime = 0,
        image_test = True,
        twice = None,
        tags = ["manual"],
        visibility = None):
    """Declares the targets that build one OS image.

    Args:
      name: prefix-free name of this build, used only for documentation ("guestos-prod").
      os: "guestos", "hostos", "setupos" or "boundary-guestos".
      mode: "prod" or "dev".
      base: the base image's OCI layout (e.g. "@guestos_base_prod//:image").
      partitions: the partitions.csv label.
      disk_size: final (expanded) disk size, e.g. "50G".
      components: component files, label -> "PATH[:MODE[:UID:GID]]" in the rootfs.
      units: systemd units to enable.
      extra_spec: more of the rootfs spec as JSON (users, groups, dirs, symlinks...).
      root_size: size of the root ext4 filesystem.
      boot_size: size of the boot ext4 filesystem.
      config_size: size of the config filesystem.
      config_fat: the config partition is FAT32 labelled CONFIG (SetupOS) instead of ext4.
      config_files: files of the config partition, label -> path.
      grub_files: files of the grub partition, label -> path (grub.cfg, grubenv).
      esp_files: files of the EFI system partition, label -> path.
      volumes: (HostOS) volumes.csv of the LVM physical volume in partition "hostlvm".
      lvm: (HostOS) icos_lvm attributes: image_size, vg_name, vg_uuid, pv_uuid.
      extra_partitions: more partition images, partition name -> label.
      data_files: (SetupOS) files of the ext4 partition "data", label -> path;
        "{mode}" in a label becomes the variant, so a dev SetupOS carries the
        dev HostOS and GuestOS.
      data_size: size of the data filesystem.
      update_img: whether to build update-img.tar.zst.
      mtime: SOURCE_DATE_EPOCH of every timestamp in the outputs.
      image_test: declare image_test, which checks the disk and update
        images with sgdisk, e2fsck, fsck.vfat, pvck, debugfs and mtype.
      twice: the package of a second icos_build of the same OS and variant
        (e.g. "//ic-os/guestos/envs/prod/twice"): declares reproducible_test,
        which requires both builds' disk-img and update-img to be identical.
      tags: tags of every image target. Default "manual": `bazel build //...`
        builds images only through the tests, which are not manual.
      visibility: visibility of the outputs.
    """
    _ = name  # buildifier: the targets are named after the IC-OS outputs
    if mode not in ("prod", "dev"):
        fail("mode must be prod or dev, got %r" % mode)

    # A locked base image repository (@X//:image) tells whether it is the
    # pinned image (see rules/private/base_image.bzl); version.txt shows it.
    base_status = None
    if base.startswith("@") and base.endswith("//:image"):
        base_status = base[:-len("image")] + "status"
    icos_version_txt(name = "version-txt", out = "version.txt", base_status = base_status, tags = tags, visibility = visibility)

    files = dict(components)

    # Mount points under /boot exist in every image.
    spec = json.decode(extra_spec) if extra_spec else {}
    if mode == "dev":
        spec["passwords"] = [{"user": "root", "hash": DEV_ROOT_PASSWORD_HASH}] + spec.get("passwords", [])
    spec["dirs"] = [
        {"path": "/boot/" + d, "mode": "0755", "uid": 0, "gid": 0}
        for d in ("config", "efi", "grub")
    ] + spec.get("dirs", [])
    # The base image flattened once: it reruns only when the base changes.
    icos_rootfs(
        name = "base-tree",
        base = base,
        mtime = mtime,
        tags = tags,
        visibility = visibility,
    )
    icos_rootfs(
        name = "rootfs-tree",
        base_tar = ":base-tree",
        files = files,
        units = units,
        extra_spec = json.encode(spec),
        mtime = mtime,
        tags = tags,
        visibility = visibility,
    )

    # version.txt joins /boot late, in a tar of /boot alone, so a version
    # change rebuilds only the boot filesystem, not the rootfs tree or root.
    icos_rootfs(
        name = "boot-tree",
        base_tar = ":rootfs-tree",
        files = {":version-txt": "/boot/version.txt"},
        only = ["boot"],
        mtime = mtime,
        tags = tags,
        visibility = visibility,
    )
    icos_ext4(
        name = "partition-boot",
        src = ":boot-tree",
        subdir = "boot",
        strip = ["efi", "grub", "config"],
        image_size = boot_size,
        label_name = "BOOT",
        mtime = mtime,
        out = "partition-boot.img.zst",
        tags = tags,
        visibility = visibility,
    )
    icos_ext4(
        name = "partition-root",
        src = ":rootfs-tree",
        strip = ["boot", "run"],
        image_size = root_size,
        label_name = "ROOT",
        mtime = mtime,
        out = "partition-root.img.zst",
        tags = tags,
        visibility = visibility,
    )
    if config_fat:
        icos_vfat(
            name = "partition-config",
            files = config_files,
            image_size = config_size,
            fat = 32,
            label_name = "CONFIG",
            mtime = mtime,
            out = "partition-config.img.zst",
            tags = tags,
            visibility = visibility,
        )
    else:
        icos_ext4(
            name = "partition-config",
            src = ":rootfs-tree",
            subdir = "boot/config",
            image_size = config_size,
            label_name = "CONFIG",
            mtime = mtime,
            out = "partition-config.img.zst",
            tags = tags,
            visibility = visibility,
        )
    for part, label, files in (("esp", "ESP", esp_files), ("grub", "GRUB", grub_files)):
        icos_vfat(
            name = "partition-" + part,
            files = files,
            image_size = "100M",
            label_name = label,
            mtime = mtime,
            out = "partition-%s.img.zst" % part,
            tags = tags,
            visibility = visibility,
        )

    images = {
        ":partition-esp": "esp",
        ":partition-grub": "grub",
    }
    # Where boot and root go: the A slot of an A/B layout (in HostOS, of its
    # volume group), or plain boot/root partitions (SetupOS).
    boot_name, root_name = ("A_boot", "A_root") if update_img or volumes else ("boot", "root")
    if volumes:
        icos_lvm(
            name = "partition-hostlvm",
            volumes = volumes,
            images = {
                ":partition-config": "config",
                ":partition-boot": boot_name,
                ":partition-root": root_name,
            },
            # A sparse archive, not plain .zst: the 93 GiB volume is mostly
            # holes, which cost nothing to pack and unpack this way.
            out = "partition-hostlvm.img.tar.zst",
            tags = tags,
            visibility = visibility,
            **lvm
        )
        images[":partition-hostlvm"] = "hostlvm"
    else:
        images[":partition-config"] = "config"
        images[":partition-boot"] = boot_name
        images[":partition-root"] = root_name
    for part, label in extra_partitions.items():
        images[label] = part
    if data_files:
        icos_rootfs(
            name = "data-tree",
            files = {label.format(mode = mode): path for label, path in data_files.items()},
            mtime = mtime,
            tags = tags,
            visibility = visibility,
        )
        icos_ext4(
            name = "partition-data",
            src = ":data-tree",
            image_size = data_size,
            label_name = "DATA",
            mtime = mtime,
            out = "partition-data.img.zst",
            tags = tags,
            visibility = visibility,
        )
        images[":partition-data"] = "data"

    disk_args = dict(partitions = partitions, images = images, image_size = disk_size)
    icos_disk(name = "disk-img", out = "disk-img.tar.zst", tags = tags, visibility = visibility, **disk_args)
    native.filegroup(name = "disk-img-archive", srcs = [":disk-img"], output_group = "archive", tags = tags, visibility = visibility)
    icos_disk(name = "disk.img", out = "disk.img", tags = tags + ["manual", "no-cache"], visibility = visibility, **disk_args)

    if update_img:
        icos_pack(
            name = "update-img",
            srcs = {
                ":partition-boot": "boot.img.zst",
                ":partition-root": "root.img.zst",
                ":version-txt": "VERSION.TXT",
            },
            out = "update-img.tar.zst",
            level = 6,
            mtime = mtime,
            tags = tags,
            visibility = visibility,
        )

    _tests(
        os = os,
        mode = mode,
        disk_size = disk_size,
        hostname = spec.get("hostname", os),
        vfat = ["esp", "grub"] + (["config"] if config_fat else []),
        ext4 = ([] if volumes or config_fat else ["config"]) +
               ([] if volumes else [boot_name, root_name]) +
               (["data"] if data_files else []),
        lvm = "hostlvm=config,%s,%s" % (boot_name, root_name) if volumes else "",
        boot = boot_name,
        root = root_name,
        data = {label.format(mode = mode): path.lstrip("/") for label, path in data_files.items()},
        update_img = update_img,
        image_test = image_test,
        twice = twice,
        tags = [t for t in tags if t != "manual"],
    )

def _tests(os, mode, disk_size, hostname, vfat, ext4, lvm, boot, root, data, update_img, image_test, twice, tags):
    """Declares image_test and reproducible_test (see icos_os_image)."""
    outputs = [":disk-img"] + ([":update-img"] if update_img else [])
    if image_test:
        args = [
            "--os",
            os,
            "--mode",
            mode,
            "--disk-size",
            disk_size,
            "--hostname",
            hostname,
            "--vfat",
            ",".join(vfat),
            "--boot",
            boot,
            "--root",
            root,
            # Bazel expands $ in test args: $$ is one $.
            "--dev-hash",
            DEV_ROOT_PASSWORD_HASH.replace("$", "$$"),
        ]
        if ext4:
            args += ["--ext4", ",".join(ext4)]
        if lvm:
            args += ["--lvm", lvm]
        for label, name in sorted(data.items()):
            args += ["--data", "%s=$(rootpath %s)" % (name, label)]
        args += ["$(rootpaths %s)" % o for o in outputs] + ["$(rootpath :version-txt)"]
        native.sh_test(
            name = "image_test",
            size = "large",
            srcs = ["//ic-os:image_test.sh"],
            args = args,
            data = outputs + [":version-txt"] + sorted(data.keys()),
            tags = tags,
        )
    if twice:
        theirs = ["%s%s" % (twice, o) for o in outputs]
        native.sh_test(
            name = "reproducible_test",
            size = "small",
            srcs = ["//ic-os:reproducible_test.sh"],
            args = ["$(rootpaths %s)" % o for o in outputs + theirs],
            data = outputs + theirs,
            tags = tags,
        )

