#pragma once
// Every file eshift replaces (config.json, metrics.jsonl on resume, checkpoints) is written to
// "<path>.tmp" and renamed over <path>: a reader, or a run resumed after a crash, sees the old
// content or the new one, never a torn file. On failure the temporary file is removed and the old
// file is left as it was.
#include <functional>
#include <string>

namespace eshift {

// Calls write(tmp_path) to fill the temporary file, then renames it over `path`. Throws
// std::runtime_error naming `path` when writing or renaming fails.
void replace_file(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

// replace_file with a text's bytes.
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace eshift
