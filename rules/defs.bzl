"""Public API of the IC-OS build rules. Load rules from here only."""

load("//rules/private:disk.bzl", _icos_disk = "icos_disk", _icos_lvm = "icos_lvm")
load("//rules/private:ext4.bzl", _icos_ext4 = "icos_ext4")
load("//rules/private:oci.bzl", _icos_oci_image = "icos_oci_image")
load("//rules/private:pack.bzl", _icos_pack = "icos_pack")
load("//rules/private:rootfs.bzl", _icos_rootfs = "icos_rootfs")
load("//rules/private:vfat.bzl", _icos_vfat = "icos_vfat")
load(
    "//rules/private:version.bzl",
    _VersionInfo = "VersionInfo",
    _icos_version_setting = "icos_version_setting",
    _icos_version_txt = "icos_version_txt",
)

icos_disk = _icos_disk
icos_ext4 = _icos_ext4
icos_lvm = _icos_lvm
icos_oci_image = _icos_oci_image
icos_pack = _icos_pack
icos_rootfs = _icos_rootfs
icos_vfat = _icos_vfat
icos_version_setting = _icos_version_setting
icos_version_txt = _icos_version_txt
VersionInfo = _VersionInfo
