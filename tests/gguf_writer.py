#!/usr/bin/env python3
"""A GGUF writer written apart from kd's, in plain Python, to check that kd
reads GPT-2 files to llama.cpp's conventions and not only its own output.

    gguf_writer.py MODEL_DIR OUT.gguf [--alignment N] [--output] [--f16]

MODEL_DIR is a Hugging Face GPT-2 directory with F32 weights (config.json,
model.safetensors, vocab.json, merges.txt). Unlike kd's writer, this one puts
the keys in another order (tokenizer first, general.* last), adds keys kd does
not know, writes integers as uint64/int32 and the epsilon as float64, can set
general.alignment to N, can store the tied output matrix as output.weight
(--output), and writes the tensors in reverse order. --f16 stores the matrices
as f16, as llama.cpp's converter does, and the position embedding with them.
"""
import argparse
import array
import json
import struct

UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, FLOAT64 = 4, 5, 6, 7, 8, 9, 10, 12
F32, F16 = 0, 1


def gguf_string(text):
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def value(kind, item):
    if kind == STRING:
        return gguf_string(item)
    code = {UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", FLOAT64: "<d"}
    return struct.pack(code[kind], item)


def key_value(key, kind, item, element_kind=None):
    out = gguf_string(key) + struct.pack("<I", kind)
    if kind == ARRAY:
        out += struct.pack("<IQ", element_kind, len(item))
        out += b"".join(value(element_kind, element) for element in item)
    else:
        out += value(kind, item)
    return out


def read_safetensors(path):
    with open(path, "rb") as file:
        length = struct.unpack("<Q", file.read(8))[0]
        header = json.loads(file.read(length))
        data = file.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: {info['dtype']} (F32 expected)"
        begin, end = info["data_offsets"]
        values = array.array("f")
        values.frombytes(data[begin:end])
        tensors[name.removeprefix("transformer.")] = (info["shape"], values)
    return tensors


def transposed(shape, values):
    """HF's Conv1D [in, out] as ggml rows: out rows of in values."""
    rows, columns = shape
    out = array.array("f", bytes(4 * rows * columns))
    for r in range(rows):
        out[r::rows] = values[r * columns:(r + 1) * columns]
    return out


def gpt2_tensors(hf, layers, with_output):
    """(name, ggml shape, f32 values, is a matrix) in llama.cpp's names."""
    def vector(name):
        shape, values = hf[name]
        return shape[::-1], values

    out = []
    wte_shape, wte = hf["wte.weight"]
    out.append(("token_embd.weight", wte_shape[::-1], wte, True))
    out.append(("position_embd.weight", *vector("wpe.weight"), True))
    out.append(("output_norm.weight", *vector("ln_f.weight"), False))
    out.append(("output_norm.bias", *vector("ln_f.bias"), False))
    if with_output:
        out.append(("output.weight", wte_shape[::-1], wte, True))
    parts = [("attn_norm", "ln_1", False), ("attn_qkv", "attn.c_attn", True),
             ("attn_output", "attn.c_proj", True), ("ffn_norm", "ln_2", False),
             ("ffn_up", "mlp.c_fc", True), ("ffn_down", "mlp.c_proj", True)]
    for layer in range(layers):
        for gguf_name, hf_name, conv1d in parts:
            shape, weight = hf[f"h.{layer}.{hf_name}.weight"]
            # ggml's shape lists the row length first: [in, out] is already
            # that order once the values are transposed into rows of `in`.
            ggml_shape = shape if conv1d else shape[::-1]
            if conv1d:
                weight = transposed(shape, weight)
            out.append((f"blk.{layer}.{gguf_name}.weight", ggml_shape, weight, conv1d))
            out.append((f"blk.{layer}.{gguf_name}.bias", *vector(f"h.{layer}.{hf_name}.bias"),
                        False))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("out")
    parser.add_argument("--alignment", type=int, default=32)
    parser.add_argument("--output", action="store_true")
    parser.add_argument("--f16", action="store_true")
    args = parser.parse_args()

    config = json.load(open(f"{args.model_dir}/config.json"))
    vocab = json.load(open(f"{args.model_dir}/vocab.json"))
    tokens = sorted(vocab, key=vocab.get)
    merges = [line.rstrip("\n") for line in open(f"{args.model_dir}/merges.txt", encoding="utf-8")
              if line.strip() and not line.startswith("#version")]
    eos = vocab["<|endoftext|>"]
    layers, embd = config["n_layer"], config["n_embd"]

    keys = [
        key_value("tokenizer.ggml.merges", ARRAY, merges, STRING),
        key_value("tokenizer.ggml.eos_token_id", UINT64, eos),
        key_value("tokenizer.ggml.tokens", ARRAY, tokens, STRING),
        key_value("tokenizer.ggml.token_type", ARRAY, [3 if i == eos else 1
                                                       for i in range(len(tokens))], INT32),
        key_value("tokenizer.ggml.bos_token_id", UINT32, eos),
        key_value("tokenizer.ggml.model", STRING, "gpt2"),
        key_value("tokenizer.ggml.pre", STRING, "gpt-2"),
        key_value("gpt2.attention.layer_norm_epsilon", FLOAT64, config["layer_norm_epsilon"]),
        key_value("gpt2.attention.head_count", INT32, config["n_head"]),
        key_value("gpt2.block_count", UINT64, layers),
        key_value("gpt2.feed_forward_length", UINT32, 4 * embd),
        key_value("gpt2.embedding_length", UINT64, embd),
        key_value("gpt2.context_length", UINT32, config["n_positions"]),
        key_value("general.description", STRING, "written by tests/gguf_writer.py"),
        key_value("general.tags", ARRAY, ["test", "gpt2"], STRING),
        key_value("general.flag", BOOL, True),
        key_value("general.file_type", UINT32, 1 if args.f16 else 0),
        key_value("general.architecture", STRING, "gpt2"),
    ]
    if args.alignment != 32:
        keys.append(key_value("general.alignment", UINT32, args.alignment))

    tensors = gpt2_tensors(read_safetensors(f"{args.model_dir}/model.safetensors"), layers,
                           args.output)[::-1]
    infos, blobs, offset = [], [], 0
    for name, shape, values, matrix in tensors:
        kind = F16 if args.f16 and matrix else F32
        blob = struct.pack(f"<{len(values)}e", *values) if kind == F16 else values.tobytes()
        infos.append(gguf_string(name) + struct.pack("<I", len(shape)) +
                     b"".join(struct.pack("<Q", n) for n in shape) + struct.pack("<IQ", kind, offset))
        padding = -len(blob) % args.alignment
        blobs.append(blob + bytes(padding))
        offset += len(blob) + padding

    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(keys)) + b"".join(keys) + b"".join(infos)
    header += bytes(-len(header) % args.alignment)
    with open(args.out, "wb") as file:
        file.write(header)
        for blob in blobs:
            file.write(blob)


if __name__ == "__main__":
    main()
