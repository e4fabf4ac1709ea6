"""What hostos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "GRUB_FILES")

HOSTOS = dict(
    os = "hostos",
    partitions = "//ic-os/hostos:partitions.csv",
    disk_size = "94G",
    config_size = "100M",
    volumes = "//ic-os/hostos:volumes.csv",
    lvm = {
        "image_size": "93G",
        "vg_name": "hostlvm",
        "vg_uuid": "0fA9cE-2bD4-4eF6-8gH1-3iJ5-7kL9-mN2oP4",
        "pv_uuid": "1qR3sT-5uV7-9wX2-4yZ6-8aB1-3cD5-eF7gH9",
        "creation_host": "hostos",
    },
    components = BOOT_COMPONENTS,
    grub_files = GRUB_FILES,
    extra_spec = json.encode({"hostname": "hostos"}),
)
