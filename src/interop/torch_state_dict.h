#pragma once
// PyTorch files, read without Python: what `torch.save(obj, f)` writes in its zip format (the
// default since PyTorch 1.6), as far as eshift needs it — state dicts, checkpoint dicts holding one
// ({'epoch', 'arch', 'state_dict', 'optimizer', …}, the reference trainer's), and plain tensors.
//
// LibTorch's own zip reader (caffe2::serialize::PyTorchStreamReader) reads the archive; the pickle
// inside (data.pkl) is read here. LibTorch 1.13's unpickler (torch::pickle_load) cannot read a
// state dict: it turns every collections.OrderedDict into None (it only expects one as a tensor's
// backward hooks) and then fails on the dict's items ("Expected GenericDict but got None"), and it
// lacks opcodes Python's pickler writes (POP, for one).
// This reader knows the opcodes of pickle protocols 2–5, builds dicts, lists, tuples, numbers,
// strings and tensors, and keeps every other Python object as an opaque value without running
// anything (so, unlike Python's torch.load(weights_only=False), a file cannot execute code).
//
// A file in PyTorch's legacy format (a bare pickle: `_use_new_zipfile_serialization=False`, or
// PyTorch < 1.6) is refused with the conversion command (scripts/convert_legacy_checkpoint.py).
// Every error is a CheckpointError (core/errors.h): one line naming the file.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "eshift/core/errors.h"

namespace eshift {

// Name → tensor, in the file's order (tensors on the CPU, of the file's dtypes).
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// The state dict in `path`: the file's top-level dict of str → tensor, or its 'state_dict' entry
// when the top level is a checkpoint dict. A leading "module." (DataParallel/DDP) is stripped from
// every key.
StateDict read_torch_state_dict(const std::string& path);

// The tensor in `path`, a file of `torch.save(tensor, f)`.
torch::Tensor read_torch_tensor(const std::string& path);

// Writes `tensor` as `torch.save(tensor, f)` would (torch::pickle_save's format, which torch.load
// reads), through the atomic writer.
void write_torch_tensor(const std::string& path, const torch::Tensor& tensor);

}  // namespace eshift
