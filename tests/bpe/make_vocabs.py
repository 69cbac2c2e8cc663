#!/usr/bin/env python3
"""Writes the small byte-level BPE vocabularies (GGUF, vocabulary only) of the
bad-input test (tests/bpe/bad_vocab.sh) and the GGUF fuzz corpus
(tests/fuzz/regressions/gguf/bpe-*.gguf): one valid, then one per mistake.
Usage: PYTHONPATH=LLAMACPP/gguf-py /usr/bin/python3 make_vocabs.py OUTDIR
(run once; the files are committed)."""
import sys
import gguf


def byte_chars():
    # GPT-2's byte-to-Unicode map
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    m, n = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(256 + n)
            n += 1
    return [m[b] for b in range(256)]


def write(path, pre="llama-bpe", merges=None, bos=None, eot=None, merges_type=None):
    w = gguf.GGUFWriter(path, "llama")
    toks = byte_chars() + ["Ġt", "he", "Ġthe", "<|begin_of_text|>", "<|eot_id|>"]
    types = [1] * 259 + [3, 3]
    w.add_tokenizer_model("gpt2")
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(toks)
    w.add_token_types(types)
    if merges is None:
        merges = ["Ġ t", "h e", "Ġt he"]
    if merges_type == "int":
        w.add_array("tokenizer.ggml.merges", [1, 2, 3])
    elif merges is not False:
        w.add_token_merges(merges)
    w.add_bos_token_id(259 if bos is None else bos)
    w.add_eos_token_id(260)
    if eot is not None:
        w.add_uint32("tokenizer.ggml.eot_token_id", eot)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


out = sys.argv[1]
write(f"{out}/bpe-ok.gguf")
write(f"{out}/bpe-smollm.gguf", pre="smollm")
write(f"{out}/bpe-bad-pre.gguf", pre="qwen-unknown")
write(f"{out}/bpe-no-pre.gguf", pre=None)
write(f"{out}/bpe-merge-unknown.gguf", merges=["Ġ t", "h e", "Ġt hx"])
write(f"{out}/bpe-merge-result.gguf", merges=["Ġ t", "h e", "h Ġ"])
write(f"{out}/bpe-merge-malformed.gguf", merges=["Ġ t", "he", "Ġt he"])
write(f"{out}/bpe-no-merges.gguf", merges=False)
write(f"{out}/bpe-merges-int.gguf", merges_type="int")
write(f"{out}/bpe-bos-range.gguf", bos=261)
write(f"{out}/bpe-eot-range.gguf", eot=5000)
