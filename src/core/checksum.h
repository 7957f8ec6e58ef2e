#pragma once
// CRC-32C (Castagnoli, Boost.CRC): TensorBoard's record checksums and eshift's checkpoint checksum.
// Detects every single-bit flip, every burst of up to 32 bits, and truncation (the length is
// checked separately).
#include <cstddef>
#include <cstdint>

namespace eshift {

uint32_t crc32c(const void* data, size_t size);

}  // namespace eshift
