"""The disk layouts of the IC-OS operating systems, as partition lists.

icos_build generates partitions.csv (and HostOS's volumes.csv) from these
lists and builds the image of every partition whose kind is not "empty"; see
partition() in //rules/private:partition.bzl for the fields.
"""

load("//ic-os/components:boot.bzl", "ESP_FILES", "GRUB_FILES")
load("//rules:defs.bzl", "partition", "volume")

def _boot_partitions():
    """ESP and grub, first on every IC-OS disk."""
    return [
        partition("esp", "100M", kind = "vfat", type = "U", label = "ESP", files = ESP_FILES, comment = "EFI system partition: shim and GRUB"),
        partition("grub", "100M", kind = "vfat", label = "GRUB", contents = "grub", files = GRUB_FILES, comment = "grub.cfg, slots.cfg and grubenv"),
    ]

# The dm-verity salt and superblock UUID of GuestOS's root filesystem: fixed,
# so the root hash depends on the filesystem alone.
GUESTOS_ROOT_VERITY = {
    "salt": "4a1f0c9e7b3d52a86e0f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60",
    "uuid": "3c1e8a52-6f0b-4d97-a2c4-8e5f1d7b9a03",
}

def guestos_layout(config_size = "100M", boot_size = "1G", root_size = "10G", root_fs_size = "3G", var_size = "10G", root_verity = {}):
    """The A/B layout of GuestOS and Boundary-GuestOS.

    A_var/B_var and the store (the rest of the disk) are made at first boot.

    Args:
      config_size: size of the config partition (/boot/config).
      boot_size: size of A_boot and B_boot.
      root_size: size of A_root and B_root.
      root_fs_size: size of the root filesystem in A_root.
      var_size: size of A_var and B_var.
      root_verity: partition()'s verity of A_root ({} for none).

    Returns:
      The partition list.
    """
    return _boot_partitions() + [
        partition("config", config_size, kind = "ext4", label = "CONFIG", contents = "config", comment = "/boot/config"),
        partition("A_boot", boot_size, kind = "ext4", label = "BOOT", contents = "boot", comment = "/boot of system A"),
        partition("A_root", root_size, kind = "ext4", label = "ROOT", contents = "root", fs_size = root_fs_size, verity = root_verity, comment = "/ of system A"),
        partition("A_var", var_size, comment = "/var of system A (LUKS2 + ext4, made at first boot)"),
        partition("B_boot", boot_size, comment = "/boot of system B (written by upgrades)"),
        partition("B_root", root_size, comment = "/ of system B"),
        partition("B_var", var_size, comment = "/var of system B"),
    ]

# HostOS: ESP, grub and one LVM physical volume "hostlvm" (grown to the whole
# drive by the installer) holding the volume group hostlvm: the A/B system
# volumes and the disk of the GuestOS VM. LVM has no derived UUIDs, so every
# volume's is fixed here.
HOSTOS_LAYOUT = _boot_partitions() + [
    partition(
        "hostlvm",
        "93G",
        kind = "lvm",
        type = "V",
        comment = "LVM PV of the volume group hostlvm",
        lvm = {
            "vg_name": "hostlvm",
            "vg_uuid": "0fA9cE-2bD4-4eF6-8gH1-3iJ5-7kL9-mN2oP4",
            "pv_uuid": "1qR3sT-5uV7-9wX2-4yZ6-8aB1-3cD5-eF7gH9",
            "creation_host": "hostos",
        },
        volumes = [
            volume("config", "100M", "kK4cdK-Ue2W-mMyV-9k3m-0mGW-8hAy-t2xZ0n", kind = "ext4", label = "CONFIG", contents = "config", comment = "/boot/config"),
            volume("A_boot", "1G", "1rPo8V-tQq5-4kyG-Kqd6-Bq1X-7bn0-Rv3Dd1", kind = "ext4", label = "BOOT", contents = "boot", comment = "/boot of system A"),
            volume("A_root", "10G", "3cUe4B-kPz2-bB1s-aK1Y-zQ4a-0Tcu-Gh5Lr2", kind = "ext4", label = "ROOT", contents = "root", fs_size = "3G", comment = "/ of system A"),
            volume("A_var", "10G", "8fZp2M-hK1q-Lm4t-Qw2e-Rt5y-Uy6u-Io7Pp3", comment = "/var of system A"),
            volume("B_boot", "1G", "2gHj4K-lZ5x-Cv6b-Nm7q-Wr8t-Ey9u-Ri0Tt4", comment = "/boot of system B"),
            volume("B_root", "10G", "5jKl6Z-xC7v-Bn8m-Qa9s-Wd0f-Eg1h-Rj2Kk5", comment = "/ of system B"),
            volume("B_var", "10G", "9lZx8C-vB9n-Mq0w-Ae1r-Sd2t-Fg3y-Hu4Jj6", comment = "/var of system B"),
            volume("guestos", "50G", "4mQw2E-rT3y-Ui4o-Pa5s-Df6g-Hj7k-Lz8Xx7", comment = "the GuestOS disk"),
        ],
    ),
]

# SetupOS: no A/B; a FAT32 config partition a node provider edits, and a data
# partition carrying the HostOS and GuestOS disks of the same variant.
SETUPOS_LAYOUT = _boot_partitions() + [
    partition(
        "config",
        "50M",
        kind = "vfat",
        type = "M",
        label = "CONFIG",
        fat = 32,
        files = {"//ic-os/setupos:config.ini": "config.ini"},
        comment = "FAT32 CONFIG: config.ini, ssh_authorized_keys/",
    ),
    partition(
        "data",
        "2560M",
        kind = "ext4",
        label = "DATA",
        files = {
            "//ic-os/guestos/envs/{mode}:disk-img-archive": "/guest-os.img.tar.zst",
            "//ic-os/hostos/envs/{mode}:disk-img-archive": "/host-os.img.tar.zst",
        },
        comment = "HostOS and GuestOS disk-img.tar.zst",
    ),
    partition("boot", "100M", kind = "ext4", label = "BOOT", contents = "boot", comment = "/boot"),
    partition("root", "1792M", kind = "ext4", label = "ROOT", contents = "root", comment = "/"),
]
