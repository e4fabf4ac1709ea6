"""The icos_build configuration of the rules test image, built twice."""

load("//ic-os:layouts.bzl", "guestos_layout")
load("//ic-os/components:boot.bzl", "BOOT_COMPONENTS")

TEST_OS = {
    "os": "guestos",
    # A GuestOS-shaped layout scaled down.
    "partitions": guestos_layout(config_size = "20M", boot_size = "64M", root_size = "128M", root_fs_size = "128M", var_size = "8M"),
    "disk_size": "1G",
    "components": BOOT_COMPONENTS,
    "rootfs": {
        "hostname": "test-os",
        "symlinks": [{"path": "/usr/bin/hi", "target": "hello"}],
    },
    # A synthetic base: no kernel, systemd or /etc/shadow; image_test checks
    # what it has instead.
    "debian": False,
    "checks": [
        {"fs": "@boot", "path": "/vmlinuz", "contains": "not a kernel"},
        {"fs": "@root", "path": "/usr/bin/hello", "mode": "0755"},
        {"fs": "@root", "path": "/usr/bin/hi", "symlink": "hello"},
    ],
    "max_allocated": "64M",
}
