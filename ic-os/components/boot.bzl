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

# Units of the Debian base that fail to start while / is read-only and /var
# is not set up yet (/var on A_var/B_var, ssh host keys kept in /boot/config:
# the GuestOS boot services), with the reason: what boot_test accepts.
READ_ONLY_ROOT_FAILURES = {
    "chrony.service": "its LogsDirectory /var/log/chrony cannot be made: /var is read-only (no /var partition yet)",
    "ssh.service": "the image has no ssh host keys (removed for reproducibility; generated at first boot by the GuestOS services, not there yet)",
    "systemd-logind.service": "its StateDirectory /var/lib/systemd/linger cannot be made: /var is read-only",
    "systemd-resolved.service": "its private namespace (PrivateTmp) needs a writable /var/tmp",
}
