"""What boundary-guestos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "GRUB_FILES")

BOUNDARY_GUESTOS = dict(
    os = "boundary-guestos",
    partitions = "//ic-os/boundary-guestos:partitions.csv",
    disk_size = "50G",
    config_size = "200M",
    components = BOOT_COMPONENTS,
    grub_files = GRUB_FILES,
    extra_spec = json.encode({"hostname": "boundary-guestos"}),
)
