"""What guestos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os:layouts.bzl", "GUESTOS_ROOT_VERITY", "guestos_layout")
load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "READ_ONLY_ROOT_FAILURES")

GUESTOS = dict(
    os = "guestos",
    partitions = guestos_layout(config_size = "100M", root_verity = GUESTOS_ROOT_VERITY),
    disk_size = "50G",
    components = BOOT_COMPONENTS,
    rootfs = {"hostname": "guestos"},
    # Booted in QEMU: / through dm-verity, read-only.
    boot_test = {
        "root": "^/dev/mapper/vroot ext4 ro,",
        "allow_failed": READ_ONLY_ROOT_FAILURES,
    },
)
