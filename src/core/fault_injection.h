#pragma once
// Fault injection for the robustness tests: inert unless its environment variables are set, so the
// real binary can be made to fail exactly where a test needs it.
//   ESHIFT_FAIL_WRITES_AFTER=N   every file write fails with ENOSPC ("no space left on device") once
//                                N more bytes were written by this process (core/atomic_file.h)
//   ESHIFT_KILL_AT=NAME[#K]      the process kills itself with SIGKILL at the K-th (default 1st) pass
//                                through fault_point(NAME): a crash at a chosen point
// Points in eshift: "step" (after each optimizer step), "writing:FILE" (after each piece of an
// atomic write: the temporary file is incomplete), "before-rename:FILE" and
// "after-rename:FILE" (every atomic write; FILE without its directory), "before-link:FILE" and
// "after-link:FILE" (checkpoint.pt made the latest), "before-checkpoint" (between an epoch's metrics
// line and its checkpoint).
#include <cstddef>
#include <cstdint>
#include <string>

namespace eshift {

// SIGKILLs the process when ESHIFT_KILL_AT names this point and its count is reached.
void fault_point(const std::string& name);

// How many of `wanted` bytes the writer may write before the injected "disk full" (all of them
// unless ESHIFT_FAIL_WRITES_AFTER or set_write_budget says otherwise); counts them as written.
size_t write_budget(size_t wanted);

// In-process tests: fail writes after `bytes` more bytes (-1: never).
void set_write_budget(int64_t bytes);

}  // namespace eshift
