#!/usr/bin/env python3
"""Converts a PyTorch file in the legacy (non-zip) format into a state dict eshift reads.

    python3 scripts/convert_legacy_checkpoint.py IN.pth.tar OUT.pt

IN is what torch.save wrote before PyTorch 1.6 (or with _use_new_zipfile_serialization=False): a
state dict, or a checkpoint dict with a 'state_dict' entry ({'epoch', 'arch', 'state_dict',
'optimizer', ...}, as the paper's and PyTorch's ImageNet example trainers write). OUT is that state
dict, with a leading 'module.' (DataParallel / DDP) stripped from every key, saved in torch.save's
zip format: `eshift import --from OUT.pt ...` and `eshift train --init-from OUT.pt` read it.

The file is loaded with torch.load(IN, map_location='cpu', weights_only=False). weights_only=False
is needed because a checkpoint dict holds more than tensors (an argparse.Namespace of the run's
flags, numpy scalars, ...), which the default of PyTorch >= 2.6 (weights_only=True) refuses. It
also means that loading runs whatever code the pickle names: convert only files you trust (your
own runs, a release of the paper's authors). map_location='cpu' loads GPU checkpoints on machines
without one. Needs only pip's torch.
"""
import argparse
import collections
import sys

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="legacy-format state dict or checkpoint (e.g. model_best.pth.tar)")
    parser.add_argument("output", help="where the zip-format state dict goes (e.g. model_best.pt)")
    args = parser.parse_args()

    try:
        obj = torch.load(args.input, map_location="cpu", weights_only=False)
    except TypeError:  # PyTorch < 1.13 has no weights_only (and does not restrict loading)
        obj = torch.load(args.input, map_location="cpu")
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        sys.exit(f"{args.input}: holds a {type(obj).__name__}, not a state dict or a checkpoint dict with 'state_dict'")
    state = collections.OrderedDict()
    for key, value in obj.items():
        if not torch.is_tensor(value):
            sys.exit(f"{args.input}: '{key}' holds a {type(value).__name__}, not a tensor: not a state dict")
        state[key[len("module."):] if key.startswith("module.") else key] = value
    torch.save(state, args.output)  # the zip format (the default since PyTorch 1.6)
    print(f"{args.input} -> {args.output}: {len(state)} tensors")


if __name__ == "__main__":
    main()
