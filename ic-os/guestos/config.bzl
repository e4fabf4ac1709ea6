"""What guestos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "GRUB_FILES")

GUESTOS = dict(
    os = "guestos",
    partitions = "//ic-os/guestos:partitions.csv",
    disk_size = "50G",
    config_size = "100M",
    components = BOOT_COMPONENTS,
    grub_files = GRUB_FILES,
    extra_spec = json.encode({"hostname": "guestos"}),
)
