"""icos_build: the whole image pipeline of one IC-OS operating system and variant.

This is the only macro users call. Given a pinned base image, component files
and a partition table it declares, in the calling package:

  version-txt          version.txt from --//ic-os:version
  rootfs-tree.tar      base image flattened + component files (icos rootfs)
  partition-root.img.zst, partition-boot.img.zst, partition-config.img.zst
                       ext4 filesystems (icos ext4), zstd-compressed
  partition-esp.img.zst, partition-grub.img.zst
                       vfat filesystems (icos vfat)
  partition-hostlvm.img.zst
                       (HostOS) the LVM physical volume holding config/A_*/B_*/guestos
  disk-img.tar.zst     (+ .sha256) the disk: GPT from partitions.csv, as a sparse tar
  disk.img             the raw disk (tagged manual: never cached, build it on demand)
  update-img.tar.zst   (+ .sha256) boot.img, root.img, VERSION.TXT (not for SetupOS)

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
        update_img = True,
        mtime = 0,
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
      update_img: whether to build update-img.tar.zst.
      mtime: SOURCE_DATE_EPOCH of every timestamp in the outputs.
      tags: tags of every target. Default "manual": `//...` does not build
        images (they need the locked base images); name the targets.
      visibility: visibility of the outputs.
    """
    _ = name  # buildifier: the targets are named after the IC-OS outputs
    if mode not in ("prod", "dev"):
        fail("mode must be prod or dev, got %r" % mode)

    icos_version_txt(name = "version-txt", out = "version.txt", tags = tags, visibility = visibility)

    files = dict(components)
    files[":version-txt"] = "/boot/version.txt"

    # Mount points under /boot exist in every image.
    spec = json.decode(extra_spec) if extra_spec else {}
    spec["dirs"] = [
        {"path": "/boot/" + d, "mode": "0755", "uid": 0, "gid": 0}
        for d in ("config", "efi", "grub")
    ] + spec.get("dirs", [])
    icos_rootfs(
        name = "rootfs-tree",
        base = base,
        files = files,
        units = units,
        extra_spec = json.encode(spec),
        mtime = mtime,
        tags = tags,
        visibility = visibility,
    )

    icos_ext4(
        name = "partition-boot",
        src = ":rootfs-tree",
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
    if volumes:
        icos_lvm(
            name = "partition-hostlvm",
            volumes = volumes,
            images = {
                ":partition-config": "config",
                ":partition-boot": "A_boot",
                ":partition-root": "A_root",
            },
            out = "partition-hostlvm.img.zst",
            tags = tags,
            visibility = visibility,
            **lvm
        )
        images[":partition-hostlvm"] = "hostlvm"
    else:
        images[":partition-config"] = "config"
        images[":partition-boot"] = "A_boot" if update_img else "boot"
        images[":partition-root"] = "A_root" if update_img else "root"
    for part, label in extra_partitions.items():
        images[label] = part

    disk_args = dict(partitions = partitions, images = images, image_size = disk_size)
    icos_disk(name = "disk-img", out = "disk-img.tar.zst", tags = tags, visibility = visibility, **disk_args)
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
