"""What setupos is made of: the arguments of icos_build shared by its variants."""

load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "GRUB_FILES")

SETUPOS = dict(
    os = "setupos",
    partitions = "//ic-os/setupos:partitions.csv",
    disk_size = "5G",
    root_size = "1792M",
    boot_size = "100M",
    config_size = "50M",
    config_fat = True,
    config_files = {"//ic-os/setupos:config.ini": "config.ini"},
    update_img = False,
    data_files = {
        "//ic-os/guestos/envs/{mode}:disk-img-archive": "/guest-os.img.tar.zst",
        "//ic-os/hostos/envs/{mode}:disk-img-archive": "/host-os.img.tar.zst",
    },
    data_size = "2560M",
    components = BOOT_COMPONENTS,
    grub_files = GRUB_FILES,
    extra_spec = json.encode({"hostname": "setupos"}),
)
