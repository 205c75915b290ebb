#!/bin/bash
# A fresh ext4 for the fan-out and chain measurements (root; Linux loop devices):
#   benchmarks/fresh_ext4.sh [MOUNTPOINT]     -> prints MOUNTPOINT (default /mnt/loopext4)
# The image lives in a tmpfs at /mnt/bench and the loop device uses direct I/O, so the page
# cache holds each page once and the disk under the VM plays no part: the same file system,
# empty, for every run (see "A fresh ext4 without double caching" in benchmarks/README.md).
# 1 KiB blocks and 3.5 M inodes: a 100,000-slice fan-out makes about 3.2 M entries.
set -euo pipefail
MNT=${1:-/mnt/loopext4}
BENCH=/mnt/bench
mkdir -p "$MNT" "$BENCH"
for _ in $(seq 30); do  # a run that just ended may hold the mount for a moment
  mountpoint -q "$MNT" || break
  umount "$MNT" 2>/dev/null || sleep 1
done
if mountpoint -q "$MNT"; then echo "cannot unmount $MNT: what still uses it?" >&2; exit 1; fi
if [ "$(stat -f -c %T "$BENCH")" != tmpfs ]; then
  mount -t tmpfs -o size=20G,nr_inodes=0 tmpfs "$BENCH"
fi
for dev in $(losetup -j "$BENCH/ext4.img" -O NAME -n 2>/dev/null); do losetup -d "$dev"; done
rm -f "$BENCH/ext4.img"
truncate -s 8G "$BENCH/ext4.img"
mkfs.ext4 -q -F -b 1024 -N 3500000 "$BENCH/ext4.img"
mount "$(losetup -f --show --direct-io=on "$BENCH/ext4.img")" "$MNT"
echo "$MNT"
