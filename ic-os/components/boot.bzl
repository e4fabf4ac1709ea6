"""The boot components every IC-OS operating system shares."""

# Files in the rootfs: label -> "PATH[:MODE[:UID:GID]]" (icos_build's components).
BOOT_COMPONENTS = {
    "//ic-os/components:boot/extra_boot_args": "/boot/extra_boot_args",
}

# Files of the ESP: Debian's signed shim and GRUB (from the bootloader lock,
# ic-os/bootloader/bootloader.lock.json) and the GRUB configuration that
# hands over to the grub partition.
ESP_FILES = {
    "@bootloader//:EFI/BOOT/BOOTX64.EFI": "EFI/BOOT/BOOTX64.EFI",
    "@bootloader//:EFI/BOOT/grubx64.efi": "EFI/BOOT/grubx64.efi",
    "//ic-os/components:boot/esp-grub.cfg": "EFI/debian/grub.cfg",
}

# Files of the grub partition: label -> name (icos_build adds slots.cfg).
GRUB_FILES = {
    "//ic-os/components:boot/grub.cfg": "grub.cfg",
    "//ic-os/components:grubenv": "grubenv",
}
