#!/bin/sh
# Renders every picture of the walkthroughs to PNG, to look at them or to
# check that they render: `docs/render-pictures.sh [OUT_DIR]`.
# Needs rsvg-convert (Debian/Ubuntu: apt-get install librsvg2-bin).
# `cargo test --test doc_pictures` does the same check when it is installed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${TMPDIR:-/tmp}/corio-pictures}
mkdir -p "$out"
for svg in "$here"/img/*.svg; do
    png="$out/$(basename "$svg" .svg).png"
    rsvg-convert -o "$png" "$svg"
    echo "$png"
done
