// Fuzz target: the TensorBoard event-file reader (observe/tensorboard.h). Input: the file. The
// only allowed failure is a DataError.
#include "eshift/core/errors.h"
#include "eshift/observe/tensorboard.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = eshift::fuzz::scratch_file(data, size, ".tfevents");
  try {
    eshift::read_event_file(path);
  } catch (const eshift::DataError&) {
  }
  return 0;
}
