# shellcheck shell=bash
# shellcheck disable=SC2154 # $here and $lamina come from the script that sources this
# The random-weight models that compare-llamacpp.sh and compare-llama2c.sh
# share; sourced by both, which set $here (this folder), $lamina and die().

# dim hidden_dim n_layers n_heads n_kv_heads vocab_size seq_len of a shape.
shape_config() {
    "$lamina" bench --list-shapes | awk -v s="$1" '$1 == s { print $2, $3, $4, $5, $6, $7, $8 }'
}

# OUT.bin: a random-weight v0 checkpoint of SHAPE, unless it exists.
random_checkpoint() { # OUT.bin SHAPE
    # shellcheck disable=SC2046 # the seven config numbers of the shape, from lamina itself
    [ -s "$1" ] || python3 "$here/random_checkpoint.py" "$1" $(shape_config "$2") ||
        die "cannot write $1"
}

# OUT: the Q8_0 (v2) copy of IN by `lamina quantize`, unless it exists.
quantized_copy() { # IN OUT
    [ -s "$2" ] || "$lamina" quantize "$1" "$2" > "$2.log" 2>&1 ||
        die "lamina quantize $1 failed: $2.log"
}
