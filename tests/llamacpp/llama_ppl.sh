# Sourced by the compat tests that hold lamina's perplexity against llama.cpp's.
#
# llama_ppl BIN MODEL TEXT CTX LOG: prints llama.cpp's "PPL error chunks" for
# MODEL over TEXT in chunks of CTX (one sequence per pass, -b = -c, two
# threads, no GPU); nothing when llama-perplexity fails (LOG says why).
# Its logger writes from a thread of its own and may lose the last lines at
# exit (common/log.cpp says so), the final estimate among them; on a loaded
# machine that happens often, so it runs again, up to 10 times, and says so.
llama_ppl() {
    local bin=$1 model=$2 text=$3 ctx=$4 log=$5 attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        "$bin/llama-perplexity" -m "$model" -f "$text" -c "$ctx" -b "$ctx" -t 2 -ngl 0 >"$log" 2>&1 ||
            { echo "llama-perplexity failed: $log" >&2; return 0; }
        grep -q "Final estimate: PPL = " "$log" && break
        echo "run $attempt of llama-perplexity on $(basename "$model") lost its final lines; again" >&2
    done
    local fig
    fig=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1 \2/p' "$log")
    echo "$fig $(sed -n 's/.*calculating perplexity over \([0-9]*\) chunks.*/\1/p' "$log")"
}
