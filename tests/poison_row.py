"""Sets one row of a 2-D F32 tensor (one element of a 1-D one) in a
.safetensors file to a value, in place. A finite 3e38 in a row of transformer.wpe.weight loads, but
overflows LayerNorm's sum to Inf at that position, so any batch reaching
it gives a NaN loss; inf or nan makes weights that loading must refuse.

usage: poison_row.py SAFETENSORS TENSOR ROW VALUE"""
import json
import struct
import sys

path, name, row, value = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with open(path, "r+b") as f:
    header_length = struct.unpack("<Q", f.read(8))[0]
    tensor = json.loads(f.read(header_length))[name]
    assert tensor["dtype"] == "F32" and len(tensor["shape"]) in (1, 2), tensor
    rows, width = (tensor["shape"] + [1])[:2]
    assert 0 <= row < rows, (row, rows)
    f.seek(8 + header_length + tensor["data_offsets"][0] + row * width * 4)
    f.write(struct.pack("<%df" % width, *([value] * width)))
