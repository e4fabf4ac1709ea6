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
        # B_boot/B_root are LVs here, which the A/B test does not write yet;
        # grub.cfg's A/B logic is the same file GuestOS's boot_test exercises.
        "upgrade": False,
    },
)
