// Fuzz target: the IDX reader (data/idx_reader.h). Input: one byte choosing 1–3 dimensions, then
// the file (raw or gzip). The only allowed failure is a DataError; anything else (another
// exception, a crash, a sanitizer report, an allocation beyond libFuzzer's limit) is a finding.
#include "eshift/data/idx_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int dims = 1 + data[0] % 3;
  const auto path = eshift::fuzz::scratch_file(data + 1, size - 1, ".idx");
  try {
    eshift::read_idx(path, dims);
  } catch (const eshift::DataError&) {
  }
  return 0;
}
