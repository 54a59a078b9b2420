#!/bin/bash
# Build Ferrostack's tiny CirrOS-like guest image from Debian packages only.
#
#   build-image.sh OUTDIR           write OUTDIR/tiny.qcow2 and OUTDIR/build-info.txt
#   build-image.sh --install-only   only install the Debian packages the build and the boot
#                                   test need (build + qemu-system-x86), then exit
#
# The disk: an MBR (syslinux mbr.bin) with two partitions, no loop devices and no mounts:
#   p1 FAT (bootable): syslinux (installed with the mtools-based `syslinux --install`),
#      syslinux.cfg, vmlinuz and initrd.gz (busybox + the virtio/ACPI/config-drive modules)
#   p2 ext4, label ferrostack-root, made with `mke2fs -d`: busybox, dropbear and its
#      libraries, and files/rootfs (inittab, rcS, udhcpc script, acpid handler, ...)
# The kernel is the Debian cloud kernel: `apt-cache depends linux-image-cloud-amd64` names the
# versioned package, which is downloaded (exactly that one) and unpacked with `dpkg-deb -x`.
#
# Environment:
#   FERROSTACK_GUEST_DEB_CACHE   directory keeping the kernel .deb between builds (optional)
#   FERROSTACK_GUEST_INPUT_HASH  recorded in build-info.txt (set by the guest-image crate)
#
# Packages missing from the host are installed with apt-get (as root, or with `sudo -n`).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FILES=$HERE/files

BUILD_PACKAGES=(busybox-static dropbear-bin syslinux syslinux-common mtools fdisk cpio
    e2fsprogs qemu-utils gzip)
TEST_PACKAGES=(qemu-system-x86)
KERNEL_META=linux-image-cloud-amd64
ROOT_LABEL=ferrostack-root
ROOT_MIB=64
DROPBEAR_BINS=(/usr/sbin/dropbear /usr/bin/dropbearkey /usr/bin/dbclient)

START=$EPOCHREALTIME
log() { awk -v t0="$START" -v t1="$EPOCHREALTIME" -v m="$*" \
    'BEGIN { printf "build-image [%5.1fs]: %s\n", t1 - t0, m }' >&2; }
die() { echo "build-image: error: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "not root and no sudo: cannot run $*"
    fi
}
apt_get() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@"
}
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        installed "$p" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    apt_get update >&2
    # --no-remove: installing qemu-system-x86 from the distribution may want to remove a newer
    # qemu-utils from backports; fail loudly instead (`cargo xtask test` installs both at one
    # version first).
    apt_get install -y --no-install-recommends --no-remove "${missing[@]}" >&2
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR | --install-only"
command -v dpkg-query >/dev/null 2>&1 || die "not a Debian system (no dpkg-query)"
if [ "$1" = --install-only ]; then
    ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    exit 0
fi
ensure_packages "${BUILD_PACKAGES[@]}"

OUT=$1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export MTOOLS_SKIP_CHECK=1

# --- the kernel --------------------------------------------------------------------------------
kernel_package() {
    apt-cache depends "$KERNEL_META" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}
KPKG=$(kernel_package)
if [ -z "$KPKG" ]; then
    apt_get update >&2
    KPKG=$(kernel_package)
fi
[ -n "$KPKG" ] || die "apt-cache depends $KERNEL_META names no linux-image package"
KPKG_VERSION=$(apt-cache policy "$KPKG" | awk '$1 == "Candidate:" { print $2 }')
DEBDIR=${FERROSTACK_GUEST_DEB_CACHE:-$WORK/debs}
mkdir -p "$DEBDIR"
DEB=$DEBDIR/${KPKG}_${KPKG_VERSION//:/%3a}_amd64.deb
if [ ! -s "$DEB" ]; then
    log "downloading $KPKG $KPKG_VERSION"
    mkdir -p "$WORK/download"
    download() {
        local opts=()
        # As root, apt would drop to the _apt user, which cannot write here (a warning only).
        [ "$(id -u)" = 0 ] && opts=(-o APT::Sandbox::User=root)
        (cd "$WORK/download" && apt-get download -q "${opts[@]}" "$KPKG" >&2)
    }
    if ! download; then
        apt_get update >&2
        download
    fi
    got=$(find "$WORK/download" -name "${KPKG}_*.deb" | head -n 1)
    [ -n "$got" ] || die "apt-get download $KPKG produced no .deb"
    # Keep one kernel in the cache: drop older versions.
    find "$DEBDIR" -maxdepth 1 -name "${KERNEL_META%-cloud-amd64}-*.deb" -delete
    DEB=$DEBDIR/$(basename "$got")
    mv "$got" "$DEB"
fi
log "unpacking $(basename "$DEB")"
dpkg-deb -x "$DEB" "$WORK/kernel"
KVER=$(basename "$(find "$WORK/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
VMLINUZ=$WORK/kernel/boot/vmlinuz-$KVER
[ -f "$VMLINUZ" ] || die "no boot/vmlinuz-$KVER in $DEB"

BUSYBOX=$(dpkg-query -L busybox-static | grep -E '/bin/busybox$' | head -n 1)
[ -x "$BUSYBOX" ] || die "busybox-static installs no bin/busybox"

# --- initramfs ---------------------------------------------------------------------------------
log "initramfs (kernel $KVER)"
KMOD=$WORK/kernel/lib/modules/$KVER
"$BUSYBOX" depmod -b "$WORK/kernel" "$KVER"
declare -A MODPATH MODDEPS
while IFS=: read -r path deps; do
    name=${path##*/}
    name=${name%.ko}
    MODPATH[${name//-/_}]=$path
    MODDEPS[$path]=$deps
done <"$KMOD/modules.dep"

INITRAMFS=$WORK/initramfs
mkdir -p "$INITRAMFS/bin" "$INITRAMFS/etc" "$INITRAMFS/lib/modules/$KVER"
declare -A WANT
add_module() { # path, with its dependencies
    local dep
    [ -n "${WANT[$1]:-}" ] && return 0
    WANT[$1]=1
    for dep in ${MODDEPS[$1]}; do
        add_module "$dep"
    done
}
: >"$INITRAMFS/etc/modules"
while read -r mod; do
    case "$mod" in '' | '#'*) continue ;; esac
    if [ -n "${MODPATH[$mod]:-}" ]; then
        add_module "${MODPATH[$mod]}"
        echo "$mod" >>"$INITRAMFS/etc/modules"
    elif grep -q "/${mod}.ko\$" "$KMOD/modules.builtin"; then
        continue # built in: nothing to load
    else
        die "kernel $KVER has no module $mod (files/modules)"
    fi
done <"$FILES/modules"
for path in "${!WANT[@]}"; do
    mkdir -p "$INITRAMFS/lib/modules/$KVER/$(dirname "$path")"
    cp "$KMOD/$path" "$INITRAMFS/lib/modules/$KVER/$path"
done
cp "$KMOD/modules.builtin" "$KMOD/modules.order" "$INITRAMFS/lib/modules/$KVER/"
"$BUSYBOX" depmod -b "$INITRAMFS" "$KVER"
cp "$BUSYBOX" "$INITRAMFS/bin/busybox"
cp "$FILES/initramfs/init" "$INITRAMFS/init"
chmod 755 "$INITRAMFS/init" "$INITRAMFS/bin/busybox"
(cd "$INITRAMFS" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -6 -n >"$WORK/initrd.gz"

# --- root filesystem ---------------------------------------------------------------------------
log "root filesystem"
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,dev,proc,sys,run,tmp,root,mnt}
mkdir -p "$ROOTFS"/{home,media,var/log,var/lib/ferrostack,var/spool}
ln -s /run "$ROOTFS/var/run"
ln -s /tmp "$ROOTFS/var/tmp"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for applet in $("$BUSYBOX" --list-full); do
    [ -e "$ROOTFS/$applet" ] || [ -L "$ROOTFS/$applet" ] || ln -s /bin/busybox "$ROOTFS/$applet"
done
for bin in "${DROPBEAR_BINS[@]}"; do
    cp "$bin" "$ROOTFS$bin"
    ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u | while read -r lib; do
    mkdir -p "$ROOTFS$(dirname "$lib")"
    cp -L "$lib" "$ROOTFS$lib"
done
[ -e "$ROOTFS/usr/bin/ssh" ] || ln -s dbclient "$ROOTFS/usr/bin/ssh"
cp -r "$FILES/rootfs/." "$ROOTFS/"
find "$ROOTFS" -type d -exec chmod 755 {} +
find "$FILES/rootfs" -type f -printf '%P\n' | while read -r f; do chmod 644 "$ROOTFS/$f"; done
chmod 755 "$ROOTFS/etc/init.d/rcS" "$ROOTFS/etc/init.d/rcK" \
    "$ROOTFS/etc/udhcpc/default.script" "$ROOTFS/etc/acpi/PWRF/00000080"
chmod 600 "$ROOTFS/etc/shadow"
chmod 700 "$ROOTFS/root"
chmod 1777 "$ROOTFS/tmp"
cat >"$ROOTFS/etc/ferrostack-guest-release" <<EOF
kernel=$KPKG $KPKG_VERSION
busybox=$(dpkg-query -W -f='${Version}' busybox-static)
dropbear=$(dpkg-query -W -f='${Version}' dropbear-bin)
EOF

truncate -s "${ROOT_MIB}M" "$WORK/root.ext4"
mkfs_root=(mke2fs -q -F -t ext4 -L "$ROOT_LABEL" -m 0 -d "$ROOTFS" "$WORK/root.ext4")
if [ "$(id -u)" = 0 ]; then
    chown -R 0:0 "$ROOTFS"
    "${mkfs_root[@]}"
elif command -v fakeroot >/dev/null 2>&1; then
    fakeroot -- sh -c 'chown -R 0:0 "$1" && shift && "$@"' sh "$ROOTFS" "${mkfs_root[@]}"
else
    log "warning: not root and no fakeroot: root filesystem files keep uid $(id -u)"
    "${mkfs_root[@]}"
fi

# --- boot partition and disk -------------------------------------------------------------------
log "boot partition and disk"
payload=$(($(stat -c %s "$VMLINUZ") + $(stat -c %s "$WORK/initrd.gz")))
FAT_MIB=$((payload / 1048576 + 4))
FAT_SECTORS=$((FAT_MIB * 2048))
ROOT_SECTORS=$((ROOT_MIB * 2048))
ROOT_START=$((2048 + FAT_SECTORS))
BOOT=$WORK/boot.fat
truncate -s "${FAT_MIB}M" "$BOOT"
# Geometry 64 heads x 32 sectors (1 MiB cylinders); hidden sectors = the partition's offset.
mformat -i "$BOOT" -T "$FAT_SECTORS" -h 64 -s 32 -H 2048 -v FERROBOOT ::
syslinux --install "$BOOT"
mcopy -i "$BOOT" "$VMLINUZ" ::/vmlinuz
mcopy -i "$BOOT" "$WORK/initrd.gz" ::/initrd.gz
mcopy -i "$BOOT" "$FILES/syslinux.cfg" ::/syslinux.cfg

DISK=$WORK/disk.raw
truncate -s $(((ROOT_START + ROOT_SECTORS) * 512)) "$DISK"
sfdisk -q --no-reread --no-tell-kernel "$DISK" >/dev/null <<EOF
label: dos
unit: sectors
start=2048, size=$FAT_SECTORS, type=e, bootable
start=$ROOT_START, size=$ROOT_SECTORS, type=83
EOF
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$DISK" bs=440 count=1 conv=notrunc status=none
dd if="$BOOT" of="$DISK" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$WORK/root.ext4" of="$DISK" bs=1M seek=$((1 + FAT_MIB)) conv=notrunc,sparse status=none

log "qcow2"
qemu-img convert -c -O qcow2 "$DISK" "$WORK/tiny.qcow2"
{
    echo "image=tiny.qcow2"
    echo "input_hash=${FERROSTACK_GUEST_INPUT_HASH:-unknown}"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel_release=$KVER"
    cat "$ROOTFS/etc/ferrostack-guest-release"
    echo "virtual_size=$(((ROOT_START + ROOT_SECTORS) * 512))"
    echo "boot_partition_mib=$FAT_MIB"
    echo "root_partition_mib=$ROOT_MIB"
    echo "initrd_bytes=$(stat -c %s "$WORK/initrd.gz")"
    echo "modules=$(grep -c . "$INITRAMFS/etc/modules") listed, ${#WANT[@]} with dependencies"
} >"$OUT/build-info.txt"
mv "$WORK/tiny.qcow2" "$OUT/tiny.qcow2"
log "done: $OUT/tiny.qcow2 ($(stat -c %s "$OUT/tiny.qcow2") bytes)"
