#pragma once
// Figures and a Markdown summary from run and experiment directories.
// Figures are drawn by gnuplot (Debian's gnuplot-nox, pngcairo terminal): each figure leaves its
// data (<name>.dat) and script (<name>.gp) beside the PNG, so it can be redrawn or restyled.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace eshift {

struct Series {
  std::string title;
  std::vector<double> x, y;
};

struct Figure {
  std::string title, xlabel, ylabel;
  bool log_y = false;
  std::vector<Series> series;
};

// Draws `figure` into png_path (a .png); throws std::runtime_error naming the file when gnuplot
// is missing or fails, or when the result is not a PNG.
void render_png(const Figure& figure, const std::string& png_path);

// True when `path` is a complete PNG file: signature, IHDR first, IEND last.
bool is_valid_png(const std::string& path);

// A training run directory as written by `eshift train --out`.
struct RunData {
  std::string dir, name;               // name: the directory's last component
  std::vector<nlohmann::json> epochs;  // "kind":"epoch" lines
  std::vector<nlohmann::json> probes;  // "kind":"probe" lines
};
RunData load_run(const std::string& dir);  // throws DataError when metrics.jsonl is missing/unreadable

// Draws the standard figures of a set of runs into out_dir and returns Markdown that shows them:
// loss and accuracy per epoch, σ (min and median) per step, effective learning rate, angular
// update, largest gradient element vs the float16 maximum, and per-layer σ / effective lr.
std::string report_runs(const std::vector<RunData>& runs, const std::string& out_dir, const std::string& prefix = "");

// `eshift report DIR...`: every DIR that holds metrics.jsonl is a run; every DIR that holds
// summary.md from an experiment contributes it and its runs (its subdirectories with metrics).
// Writes out_dir/report.md and the figures; returns the path of report.md.
std::string write_report(const std::vector<std::string>& dirs, const std::string& out_dir);

}  // namespace eshift
