#include "eshift/observe/tensorboard.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "eshift/core/errors.h"
#include "eshift/core/little_endian.h"
#include "tensorboard_event.pb.h"

namespace eshift {

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(now_seconds())) + "." + host + "." +
          std::to_string(getpid()) + ".eshift";
  file_ = std::make_unique<AppendFile>(path_, /*truncate=*/true);
  tb::Event event;
  event.set_wall_time(now_seconds());
  event.set_file_version("brain.Event:2");
  write_record(event.SerializeAsString());
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    flush();
  } catch (const std::exception&) {
    // a destructor must not throw; the records already appended stay intact
  }
}

void TensorBoardWriter::write_record(const std::string& data) {
  std::string header;
  append_le(header, data.size(), 8);
  std::string record = header;
  append_le(record, masked_crc32c(header.data(), header.size()), 4);
  record += data;
  append_le(record, masked_crc32c(data.data(), data.size()), 4);
  pending_ += record;
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  tb::Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  auto* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::flush() {
  if (pending_.empty()) return;
  const std::string records = std::move(pending_);
  pending_.clear();
  file_->append(records);
  file_->sync();
}

EventFile read_event_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open event file");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  EventFile out;
  size_t offset = 0;
  while (offset < bytes.size()) {
    auto fail = [&](const std::string& what) {
      throw DataError(path + ": " + what + " in the record at byte " + std::to_string(offset));
    };
    if (bytes.size() - offset < 12) fail("truncated header");
    const uint64_t length = get_le(p + offset, 8);
    if (get_le(p + offset + 8, 4) != masked_crc32c(p + offset, 8)) fail("bad length CRC");
    // 16 = header + data CRC; compared without adding to `length`, which could overflow
    if (bytes.size() - offset < 16 || length > bytes.size() - offset - 16) fail("truncated data");
    const auto* data = p + offset + 12;
    if (get_le(data + length, 4) != masked_crc32c(data, length)) fail("bad data CRC");
    tb::Event event;
    if (!event.ParseFromArray(data, static_cast<int>(length))) fail("unparsable Event");
    if (event.what_case() == tb::Event::kFileVersion) out.file_version = event.file_version();
    if (event.what_case() == tb::Event::kSummary)
      for (const auto& v : event.summary().value())  // as TensorBoard: a value without simple_value is no scalar
        if (v.value_case() == tb::Summary::Value::kSimpleValue)
          out.scalars.push_back({v.tag(), v.simple_value(), event.step(), event.wall_time()});
    offset += 12 + length + 4;
  }
  return out;
}

}  // namespace eshift
