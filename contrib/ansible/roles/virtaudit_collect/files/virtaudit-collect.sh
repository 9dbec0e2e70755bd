#!/bin/sh
# virtaudit-collect.sh HOST STATUS_DIR OUT
#
# Packs one hypervisor's libvirt status files and its libvirt/QEMU package versions into OUT, a .tar.gz
# laid out like a minimal sosreport, which `virtaudit audit` reads in place (docs/cli.md, "Archives"):
#
#   virtaudit-collect-HOST/sos_commands/host/hostname    the host name (as the inventory knows it)
#   virtaudit-collect-HOST/installed-rpms                rpm -qa 'libvirt*' 'qemu*'       (RPM hosts)
#   virtaudit-collect-HOST/installed-debs                dpkg-query of the same packages  (Debian hosts)
#   virtaudit-collect-HOST/run/libvirt/qemu/GUEST.xml    one status file per running guest
#   virtaudit-collect-HOST/virtaudit-collect.txt         when, from where, how many files
#
# Needs only a POSIX shell, coreutils, tar and gzip: nothing is installed on the hypervisor, and no Python
# runs here. It reads STATUS_DIR and writes only OUT and a private temporary directory it removes.
#
# Exit status: 0 packed; 2 usage; 3 STATUS_DIR is not a directory (a typo must never look like a host
# without guests); 4 a status file exists but could not be read. A status file that vanishes while being
# copied belongs to a guest that has just stopped, and is left out.
set -eu

if [ "$#" -ne 3 ]; then
    echo "usage: $0 HOST STATUS_DIR OUT" >&2
    exit 2
fi
host=$1
status_dir=$2
out=$3

case "$host" in
    "" | */* | .*) echo "virtaudit-collect: unusable host name: '$host'" >&2; exit 2 ;;
esac
if [ ! -d "$status_dir" ]; then
    echo "virtaudit-collect: not a directory: $status_dir" >&2
    exit 3
fi

# Status files can hold graphics passwords: everything written here is readable by root alone.
umask 077
work=$(mktemp -d "${TMPDIR:-/var/tmp}/virtaudit-collect.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
top="$work/virtaudit-collect-$host"
mkdir -p "$top/sos_commands/host" "$top/run/libvirt/qemu"
printf '%s\n' "$host" >"$top/sos_commands/host/hostname"

# Package versions become the host's facts (the libvirt that will read the files, the QEMU that runs).
packages=""
if command -v rpm >/dev/null 2>&1 && rpm -qa 'libvirt*' 'qemu*' >"$top/installed-rpms" 2>/dev/null \
    && [ -s "$top/installed-rpms" ]; then
    packages="rpm"
else
    rm -f "$top/installed-rpms"
fi
if command -v dpkg-query >/dev/null 2>&1; then
    # Status first, as `dpkg -l` prints it ("ii" = installed); packages only known to dpkg are skipped
    # by the reader. dpkg-query exits 1 when a pattern matches nothing: that is not a failure here.
    dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version} ${Architecture}\n' \
        'libvirt*' 'qemu*' >"$top/installed-debs" 2>/dev/null || true
    if [ -s "$top/installed-debs" ]; then
        packages="${packages:+$packages+}dpkg"
    else
        rm -f "$top/installed-debs"
    fi
fi

count=0
for file in "$status_dir"/*.xml; do
    [ -e "$file" ] || [ -L "$file" ] || continue   # the pattern matched nothing
    [ -f "$file" ] || continue                    # sockets, directories: never status files
    if cp -p -- "$file" "$top/run/libvirt/qemu/"; then
        count=$((count + 1))
    elif [ -e "$file" ]; then
        echo "virtaudit-collect: could not read $file" >&2
        exit 4
    fi
done

{
    echo "collector: virtaudit-collect 1"
    echo "host: $host"
    echo "collected_at: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "status_dir: $status_dir"
    echo "status_files: $count"
    echo "packages: ${packages:-none}"
} >"$top/virtaudit-collect.txt"

tar -C "$work" -czf "$out.partial" "virtaudit-collect-$host"
mv -f -- "$out.partial" "$out"
echo "$count status files from $status_dir, packages: ${packages:-none}"
