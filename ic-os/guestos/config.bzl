"""What guestos is made of: the arguments of icos_build shared by its variants."""

GUESTOS = dict(
    os = "guestos",
    partitions = "//ic-os/guestos:partitions.csv",
    disk_size = "50G",
    config_size = "100M",
    components = {
        "//ic-os/components:boot/extra_boot_args": "/boot/extra_boot_args",
    },
    grub_files = {
        "//ic-os/components:boot/grub.cfg": "grub.cfg",
        "//ic-os/components:boot/grubenv": "grubenv",
    },
    extra_spec = json.encode({"hostname": "guestos"}),
)
