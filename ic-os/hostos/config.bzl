"""What hostos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os:layouts.bzl", "HOSTOS_LAYOUT")
load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS")

HOSTOS = dict(
    os = "hostos",
    partitions = HOSTOS_LAYOUT,
    disk_size = "94G",
    components = BOOT_COMPONENTS,
    rootfs = {"hostname": "hostos"},
)
