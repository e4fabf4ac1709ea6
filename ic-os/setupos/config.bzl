"""What setupos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os:layouts.bzl", "SETUPOS_LAYOUT")
load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS")

SETUPOS = dict(
    os = "setupos",
    partitions = SETUPOS_LAYOUT,
    disk_size = "5G",
    update_img = False,
    components = BOOT_COMPONENTS,
    rootfs = {"hostname": "setupos"},
)
