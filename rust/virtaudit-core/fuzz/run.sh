#!/bin/sh
# Runs one fuzz target for a while: ./run.sh TARGET SECONDS [libFuzzer flags...]
# Builds with cargo-fuzz (RUSTC_BOOTSTRAP=1 lets the stable toolchain take its nightly flags), seeds the
# corpus from the project's XML, and fuzzes at low priority. Crashes land in artifacts/TARGET/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: run.sh parse_xml|parse_bytes SECONDS [libFuzzer flags]}
seconds=${2:-1800}
shift 2 || shift $#
cd "$here/.."
RUSTC_BOOTSTRAP=1 cargo fuzz build -O --sanitizer none "$target"
"$here/seed.sh"
mkdir -p "$here/artifacts/$target" "$here/logs"
case $target in
    parse_bytes) max_len=8192 ;;
    *) max_len=131072 ;;
esac
exec nice -n 19 "$here/target/x86_64-unknown-linux-gnu/release/$target" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$here/artifacts/$target/" "$@" "$here/corpus/$target"
