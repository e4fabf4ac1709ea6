"""What boundary-guestos is made of: the arguments of icos_build shared by its variants."""

BOUNDARY_GUESTOS = dict(
    os = "boundary-guestos",
    partitions = "//ic-os/boundary-guestos:partitions.csv",
    disk_size = "50G",
    config_size = "200M",
    components = {
        "//ic-os/components:boot/extra_boot_args": "/boot/extra_boot_args",
    },
    grub_files = {
        "//ic-os/components:boot/grub.cfg": "grub.cfg",
        "//ic-os/components:boot/grubenv": "grubenv",
    },
    extra_spec = json.encode({"hostname": "boundary-guestos"}),
)
