#pragma once
// TensorBoard event files: TFRecord framing of Event protocol buffers.
//
// File name: events.out.tfevents.<unix seconds>.<host>.<pid>.eshift (TensorBoard looks for
// "tfevents" in the name). Each record:
//   uint64 length (little endian) | uint32 masked CRC32C of the 8 length bytes | data | uint32 masked CRC32C of data
//   masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8
// The first event carries file_version "brain.Event:2"; every scalar is one Event with a Summary.
// Records are collected in memory and appended to the file by flush() (core/atomic_file.h's
// AppendFile: checked, fsynced, a failed append leaves the earlier records intact).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eshift/core/atomic_file.h"
#include "eshift/core/checksum.h"

namespace eshift {

uint32_t masked_crc32c(const void* data, size_t size); // the TFRecord mask applied to crc32c

class TensorBoardWriter {
 public:
  explicit TensorBoardWriter(const std::string& dir);  // creates a new event file in dir
  ~TensorBoardWriter();                                // flushes what is left (errors ignored)
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  void add_scalar(const std::string& tag, double value, int64_t step);
  void flush();  // appends the records added since the last flush
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  std::string path_;
  std::unique_ptr<AppendFile> file_;
  std::string pending_;  // records not yet appended
};

struct ScalarEvent {
  std::string tag;
  float value = 0;
  int64_t step = 0;
  double wall_time = 0;
};

struct EventFile {
  std::string file_version;
  std::vector<ScalarEvent> scalars;
};

// Reads an event file back, checking every record's lengths and CRCs; throws DataError naming the
// file and the offset of the first damaged record. Like TensorBoard, it counts a summary value as
// a scalar only when it carries a simple_value.
EventFile read_event_file(const std::string& path);

}  // namespace eshift
