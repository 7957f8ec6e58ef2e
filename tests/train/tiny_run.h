#pragma once
// The trainer tests' run: resnet8 of width 4 on 48 training and 20 test images of 8×8, 4 classes
// (written into DIR/data once), batch 16 (3 steps an epoch), 2 epochs at lr 0.05, no probes.
#include <filesystem>

#include "eshift/train/config.h"
#include "test_util.h"

namespace eshift::test {

inline TrainConfig tiny_run(const TempDir& dir) {
  if (!std::filesystem::exists(dir / "data")) {
    std::filesystem::create_directories(dir / "data");
    write_mnist_layout(dir / "data", 48, 20, 8, 8, 4);
  }
  TrainConfig c;
  c.model.name = "resnet8";
  c.model.width = 4;
  c.data_dir = dir / "data";
  c.epochs = 2;
  c.batch_size = 16;
  c.schedule.base_lr = 0.05;
  c.probe_every = 0;
  return c;
}

}  // namespace eshift::test
