"""Reads plastimatch's per-ROI NRRD masks for the oracle test (Debian python3 + numpy only).

Usage: read_nrrd.py DIR  -> writes DIR/<name>.u8 (voxels, first axis fastest) and prints JSON
{name: {"sizes": [..], "directions": [[..],..], "origin": [..]}} on stdout.
"""
import gzip
import json
import os
import re
import sys

import numpy as np


def read_nrrd(path):
    with open(path, 'rb') as f:
        raw = f.read()
    end = raw.index(b'\n\n')
    header = {}
    for line in raw[:end].decode('ascii').splitlines()[1:]:
        if line.startswith('#') or ':' not in line:
            continue
        key, value = line.split(':', 1)
        header[key.strip()] = value.strip()
    body = raw[end + 2:]
    if header.get('encoding') == 'gzip':
        body = gzip.decompress(body)
    elif header.get('encoding') != 'raw':
        raise ValueError(f'{path}: encoding {header.get("encoding")}')
    types = {'unsigned char': np.uint8, 'uchar': np.uint8, 'short': np.int16, 'unsigned short': np.uint16, 'float': np.float32}
    data = np.frombuffer(body, dtype=types[header['type']])
    vectors = [[float(x) for x in v.split(',')] for v in re.findall(r'\(([^)]*)\)', header['space directions'])]
    origin = [float(x) for x in re.findall(r'\(([^)]*)\)', header['space origin'])[0].split(',')]
    if header.get('space') not in ('left-posterior-superior', 'LPS'):
        raise ValueError(f'{path}: space {header.get("space")}')
    return data, {'sizes': [int(s) for s in header['sizes'].split()], 'directions': vectors, 'origin': origin}


def main():
    folder = sys.argv[1]
    out = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith('.nrrd'):
            continue
        data, geom = read_nrrd(os.path.join(folder, name))
        (data != 0).astype(np.uint8).tofile(os.path.join(folder, name[:-5] + '.u8'))
        out[name[:-5]] = geom
    print(json.dumps(out))


main()
