#!/bin/sh
# Fills the fuzz corpora with real libvirt XML: the project's fixtures and example fleet, plus the libvirt
# test corpus (status XML and a sample of domain XML) when it is there ($VIRTAUDIT_CORPUS, or
# ../shared/corpus/libvirt-7.10 beside the repository). Safe to re-run: files are named by content hash.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
corpus=${VIRTAUDIT_CORPUS:-$repo/../shared/corpus/libvirt-7.10}
[ -d "$corpus/libvirt-7.10" ] && corpus=$corpus/libvirt-7.10
for target in parse_xml parse_bytes; do
    mkdir -p "$here/corpus/$target"
done
{
    find "$repo/tests/fixtures" "$repo/examples/fleet" -name '*.xml' -type f 2>/dev/null
    if [ -d "$corpus/tests" ]; then
        find "$corpus/tests/qemustatusxml2xmldata" -name '*.xml' -type f
        # One domain file in ten: the parser's domain paths without swamping the corpus.
        find "$corpus/tests/qemuxml2argvdata" -name '*.xml' -type f | sort | awk 'NR % 10 == 1'
    fi
} | while read -r f; do
    sum=$(sha1sum "$f" | cut -c1-40)
    for target in parse_xml parse_bytes; do
        cp "$f" "$here/corpus/$target/$sum"
    done
done
echo "seeded: $(ls "$here/corpus/parse_xml" | wc -l) files per target"
