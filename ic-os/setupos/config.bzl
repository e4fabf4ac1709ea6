"""What setupos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os:layouts.bzl", "SETUPOS_LAYOUT")
load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "READ_ONLY_ROOT_FAILURES")

SETUPOS = dict(
    os = "setupos",
    partitions = SETUPOS_LAYOUT,
    disk_size = "5G",
    update_img = False,
    components = BOOT_COMPONENTS,
    rootfs = {"hostname": "setupos"},
    # Booted in QEMU (dev): / read-only, as initramfs-tools mounts it.
    boot_test = {
        "root": "^/dev/vda6 ext4 ro,",
        "allow_failed": READ_ONLY_ROOT_FAILURES,
    },
)
