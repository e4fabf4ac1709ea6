"""What hostos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os:layouts.bzl", "HOSTOS_LAYOUT")
load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "READ_ONLY_ROOT_FAILURES")

HOSTOS = dict(
    os = "hostos",
    partitions = HOSTOS_LAYOUT,
    disk_size = "94G",
    components = BOOT_COMPONENTS,
    rootfs = {"hostname": "hostos"},
    # Booted in QEMU (dev): / read-only, as initramfs-tools mounts it.
    boot_test = {
        "root": "^/dev/mapper/hostlvm-%s_root ext4 ro,",
        "allow_failed": READ_ONLY_ROOT_FAILURES,
    },
)
