"""The boot components every IC-OS operating system shares."""

# Files in the rootfs: label -> "PATH[:MODE[:UID:GID]]" (icos_build's components).
BOOT_COMPONENTS = {
    "//ic-os/components:boot/extra_boot_args": "/boot/extra_boot_args",
}

# Files of the grub partition: label -> name (icos_build's grub_files).
GRUB_FILES = {
    "//ic-os/components:boot/grub.cfg": "grub.cfg",
    "//ic-os/components:grubenv": "grubenv",
}
