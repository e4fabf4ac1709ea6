"""What boundary-guestos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os:layouts.bzl", "guestos_layout")
load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "READ_ONLY_ROOT_FAILURES")

BOUNDARY_GUESTOS = dict(
    os = "boundary-guestos",
    # GuestOS's layout with a 200 MiB config partition.
    partitions = guestos_layout(config_size = "200M"),
    disk_size = "50G",
    components = BOOT_COMPONENTS,
    rootfs = {"hostname": "boundary-guestos"},
    # Booted in QEMU (dev): / read-only, as initramfs-tools mounts it.
    boot_test = {
        "root": "^/dev/vda[58] ext4 ro,",  # A_root or B_root
        "allow_failed": dict(
            READ_ONLY_ROOT_FAILURES,
            **{
                "danted.service": "it cannot create its shared-memory lock file: the filesystem is read-only (the SOCKS proxy is set up by the Boundary services, not there yet)",
                "nginx.service": "nginx -t fails: its log and state directories under /var are read-only (nginx is configured by the Boundary services, not there yet)",
            }
        ),
    },
)
