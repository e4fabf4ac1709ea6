"""The icos_build configuration of the rules test image, built twice."""

load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS", "GRUB_FILES")

TEST_OS = {
    "os": "guestos",
    # A synthetic base has no kernel or systemd: image_test.sh in this
    # package checks what it has instead of ic-os/image_test.sh.
    "image_test": False,
    "partitions": "//rules/tests:partitions.csv",
    "disk_size": "1G",
    "root_size": "128M",
    "boot_size": "64M",
    "config_size": "20M",
    "components": BOOT_COMPONENTS,
    "grub_files": GRUB_FILES,
    "extra_spec": json.encode({
        "hostname": "test-os",
        "symlinks": [{"path": "/usr/bin/hi", "target": "hello"}],
    }),
}
