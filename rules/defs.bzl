"""Public API of the IC-OS build rules. Load rules from here only."""

load("//rules/private:disk.bzl", _icos_disk = "icos_disk", _icos_lvm = "icos_lvm")
load("//rules/private:ext4.bzl", _icos_ext4 = "icos_ext4")
load("//rules/private:grubenv.bzl", _icos_grubenv = "icos_grubenv")
load("//rules/private:image_spec.bzl", _icos_image_spec = "icos_image_spec")
load("//rules/private:initrd.bzl", _icos_initrd = "icos_initrd")
load("//rules/private:oci.bzl", _icos_oci_image = "icos_oci_image")
load("//rules/private:pack.bzl", _icos_pack = "icos_pack")
load(
    "//rules/private:partition.bzl",
    _PartitionImageInfo = "PartitionImageInfo",
    _icos_table = "icos_table",
    _partition = "partition",
    _partitions_csv = "partitions_csv",
    _volume = "volume",
    _volumes_csv = "volumes_csv",
)
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
icos_grubenv = _icos_grubenv
icos_image_spec = _icos_image_spec
icos_initrd = _icos_initrd
icos_lvm = _icos_lvm
icos_oci_image = _icos_oci_image
icos_pack = _icos_pack
icos_rootfs = _icos_rootfs
icos_table = _icos_table
icos_vfat = _icos_vfat
icos_version_setting = _icos_version_setting
icos_version_txt = _icos_version_txt
VersionInfo = _VersionInfo
PartitionImageInfo = _PartitionImageInfo
partition = _partition
partitions_csv = _partitions_csv
volume = _volume
volumes_csv = _volumes_csv
