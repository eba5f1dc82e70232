#!/usr/bin/env bash
# What installing the package costs: for each checkout given, a fresh virtual environment with
# torch alone (torch==2.13.0), then `pip install -e .` (the plain install, no extras) and then
# `pip install -e ".[dev]"` on top of it (what the test suite needs), with the venv's size
# (du -sh), the number of installed distributions (pip list) and the seconds each install took.
# Prints a markdown table.
#
#   bash bench/install_size.sh REV_OR_FOLDER...     e.g. bash bench/install_size.sh main HEAD
#
# Each argument is a git revision of this repository or a checkout folder (its HEAD commit is
# measured); its committed files are exported into a temporary folder, so the checkouts are
# left as they are. Uses pip as configured (its cache, if warm, makes the times shorter than on
# a new machine: say so with the numbers). Needs python3 with venv and about 2 GB of /tmp per
# checkout while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
torch_requirement="${TORCH_REQUIREMENT:-torch==2.13.0}"
[ $# -gt 0 ] || { echo "usage: bash bench/install_size.sh REV_OR_FOLDER..." >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows=()

# size of a folder in MB, its distribution count, for the table
measure() {
    local venv=$1
    echo "$(du -sm "$venv" | cut -f1) MB | $("$venv/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l)"
}

index=0
for checkout in "$@"; do
    index=$((index + 1))
    if [ -d "$checkout" ]; then
        revision=$(git -C "$checkout" rev-parse --short HEAD)
        repo=$checkout
    else
        revision=$(git rev-parse --short "$checkout")
        repo=.
    fi
    source_dir="$work/src$index"
    venv="$work/venv$index"
    mkdir -p "$source_dir"
    git -C "$repo" archive "$revision" | tar -x -C "$source_dir"
    echo "install_size: $checkout ($revision): fresh venv with $torch_requirement" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q "$torch_requirement" >&2
    base=$(measure "$venv")
    rows+=("| $checkout ($revision) | torch alone | $base | |")
    for target in "." ".[dev]"; do
        echo "install_size: $checkout ($revision): pip install -e \"$target\"" >&2
        start=$(date +%s.%N)
        (cd "$source_dir" && "$venv/bin/python" -m pip install -q -e "$target" >&2)
        seconds=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)")
        label=$([ "$target" = "." ] && echo '`pip install -e .`' || echo 'then `pip install -e ".[dev]"`')
        rows+=("| $checkout ($revision) | $label | $(measure "$venv") | $seconds |")
    done
    rm -rf "$venv" "$source_dir"
done

echo "| checkout | install | venv size | distributions | seconds |"
echo "| --- | --- | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
