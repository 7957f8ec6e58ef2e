#pragma once
// eshift's typed errors. Every message is one line that names the file (or flag) and the problem;
// the CLI prints the first line as "eshift: error: …". Impossible flag values are
// std::invalid_argument; LibTorch's own checks raise c10::Error.
#include <stdexcept>

namespace eshift {

// A problem with a file eshift reads: a dataset, a run's metrics.jsonl, a TensorBoard event file.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A checkpoint that is missing, unreadable or written for another model.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace eshift
