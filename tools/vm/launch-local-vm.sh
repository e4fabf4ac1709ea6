#!/bin/sh
# launch-local-vm of icos_build: boots the image in QEMU on a working copy,
# console on this terminal (Ctrl-A X quits). Args: icos, disk, then the
# caller's flags of `icos vm run`.
icos=$1 disk=$2; shift 2; exec "$icos" vm run --disk "$disk" "$@"
