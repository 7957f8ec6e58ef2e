// Fuzz target: the pickle reader of PyTorch files (interop/torch_state_dict.h). Input: data.pkl, the
// pickle torch.save writes; it goes into a zip written with LibTorch's own PyTorchStreamWriter,
// beside storage records data/0 … data/63 of 16 KiB each (what a state dict's tensors point into),
// so that the fuzzer spends its time in eshift's unpickler rather than in the zip's framing. The only
// allowed failure is a CheckpointError.
#include <caffe2/serialize/inline_container.h>

#include <vector>

#include "eshift/core/errors.h"
#include "eshift/interop/torch_state_dict.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<uint8_t> storage = [] {
    std::vector<uint8_t> bytes(16384);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 + 7);
    return bytes;
  }();
  static const std::string path = eshift::fuzz::scratch_dir("pickle") + "/archive.pt";
  {
    caffe2::serialize::PyTorchStreamWriter writer(path);
    writer.writeRecord("data.pkl", data, size);
    writer.writeRecord("byteorder", "little", 6);
    for (int k = 0; k < 64; ++k) writer.writeRecord("data/" + std::to_string(k), storage.data(), storage.size());
    writer.writeEndOfFile();
  }
  try {
    (void)eshift::read_torch_state_dict(path);
  } catch (const eshift::CheckpointError&) {
  }
  try {
    (void)eshift::read_torch_tensor(path);
  } catch (const eshift::CheckpointError&) {
  }
  return 0;
}
