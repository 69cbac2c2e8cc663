#!/usr/bin/env bash
# Whole-process start-up with the weights cache (README, "Weights cache"):
# the wall time of `lamina MODEL -n 16 -t 0 -i Hello` on its first run (no
# image: pack, write the image, map it), later runs (map the image) and with
# --no-weights-cache (pack in memory), interleaved round by round, medians;
# then the memory of two concurrent processes on one model (PSS from
# /proc/PID/smaps_rollup) with and without the cache.
#
# usage: bench/wcache_startup.sh LAMINA TOKENIZER ROUNDS MODEL...
# The cache is a temporary folder (never ~/.cache); prints markdown tables.
set -u
lamina=$1 tok=$2 rounds=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache=$work/cache
run=(-z "$tok" -n 16 -t 0 -i Hello)

wall() { # wall seconds of one run of the arguments
    local t0=$EPOCHREALTIME
    "$lamina" "$@" >/dev/null 2>&1 || echo "run failed: $*" >&2
    echo "$EPOCHREALTIME - $t0" | bc -l
}
median() { sort -g | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m}'; }
image_of() { "$lamina" info "$1" --weights-cache "$cache" 2>/dev/null | sed -n 's/^image: *\([^ ]*\) .*/\1/p'; }

echo "| model | first run (pack + write + map) | later runs (map) | --no-weights-cache | image |"
echo "|---|---|---|---|---|"
for model in "$@"; do
    : >"$work/first" && : >"$work/later" && : >"$work/mem"
    img=$(image_of "$model")
    for _ in $(seq "$rounds"); do
        rm -f "$img"
        wall "$model" "${run[@]}" --weights-cache "$cache" >>"$work/first"
        wall "$model" "${run[@]}" --weights-cache "$cache" >>"$work/later"
        wall "$model" "${run[@]}" --no-weights-cache >>"$work/mem"
    done
    printf '| %s (%s MiB) | %s s | %s s | %s s | %s MiB |\n' "$(basename "$model")" \
        $(($(stat -c %s "$model") >> 20)) "$(median <"$work/first")" "$(median <"$work/later")" \
        "$(median <"$work/mem")" $(($(stat -c %s "$img") >> 20))
done

# Two processes generating a long text (every weight touched by the first
# token), their smaps_rollup read once both hold the weights, then stopped.
pss() { # pss MODEL OPTION...: "Rss/Pss/Pss_Anon/Pss_File" (MiB) of each of two processes
    local model=$1 want=$(($(stat -c %s "$1") / 1024 * 9 / 10)) # KiB: 90% of the weights
    shift
    "$lamina" "$model" -z "$tok" -n 1024 -t 0 -i Hello "$@" >/dev/null 2>&1 &
    local p1=$!
    "$lamina" "$model" -z "$tok" -n 1024 -t 0 -i Hello "$@" >/dev/null 2>&1 &
    local p2=$!
    rss() { awk '/^Rss/ {print $2}' /proc/$1/smaps_rollup 2>/dev/null || echo 0; }
    for _ in $(seq 240); do
        sleep 0.25
        [ "$(rss $p1)" -ge "$want" ] && [ "$(rss $p2)" -ge "$want" ] && break
    done
    sleep 1
    for p in $p1 $p2; do
        awk '/^(Rss|Pss|Pss_Anon|Pss_File):/ {v[$1] = $2} END {printf "%.0f/%.0f/%.0f/%.0f ", v["Rss:"] / 1024, v["Pss:"] / 1024, v["Pss_Anon:"] / 1024, v["Pss_File:"] / 1024}' /proc/$p/smaps_rollup
    done
    kill $p1 $p2
    wait $p1 $p2 2>/dev/null
}
echo
echo "| model | two processes, each Rss/Pss/Pss_Anon/Pss_File MiB: weights cache | --no-weights-cache |"
echo "|---|---|---|"
for model in "$@"; do
    "$lamina" "$model" "${run[@]}" --weights-cache "$cache" >/dev/null 2>&1 # the image exists
    printf '| %s | %s | %s |\n' "$(basename "$model")" "$(pss "$model" --weights-cache "$cache")" \
        "$(pss "$model" --no-weights-cache)"
done
