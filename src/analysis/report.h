#pragma once
// Figures and a Markdown summary from run and experiment directories.
// Figures are drawn by gnuplot (Debian's gnuplot-nox, pngcairo terminal): each figure leaves its
// data (<name>.dat) and script (<name>.gp) beside the PNG, so it can be redrawn or restyled.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace eshift {

struct Series {
  Series(std::string title = "", std::vector<double> x = {}, std::vector<double> y = {}, std::string color = "")
      : title(std::move(title)), x(std::move(x)), y(std::move(y)), color(std::move(color)) {}
  std::string title;
  std::vector<double> x, y;
  std::string color;  // "#rrggbb"; empty: gnuplot's own cycle
};

// A horizontal line across the figure at y, dashed, with its title in the key (e.g. "ε = 0.001").
struct ReferenceLine {
  double y = 0;
  std::string title;
};

struct Figure {
  Figure(std::string title = "", std::string xlabel = "", std::string ylabel = "", bool log_y = false,
         std::vector<Series> series = {})
      : title(std::move(title)), xlabel(std::move(xlabel)), ylabel(std::move(ylabel)), log_y(log_y),
        series(std::move(series)) {}
  std::string title, xlabel, ylabel;
  bool log_y = false;
  std::vector<Series> series;
  std::vector<ReferenceLine> references;
  std::string key_title;  // a heading over the key (e.g. what the colours mean)
};

// The colour at fraction t ∈ [0,1] of a sequential palette (viridis: dark purple → yellow), as
// "#rrggbb": series k of n drawn at t = k/(n−1) are ordered by lightness.
std::string sequential_color(double t);

// Draws `figure` into png_path (a .png); throws std::runtime_error naming the file when gnuplot
// is missing or fails, or when the result is not a PNG.
void render_png(const Figure& figure, const std::string& png_path);

// True when `path` is a complete PNG file: signature, IHDR first, IEND last.
bool is_valid_png(const std::string& path);

// A training run directory as written by `eshift train --out`.
struct RunData {
  std::string dir, name;               // name: the directory's last component
  nlohmann::json config;               // config.json (null when absent)
  std::vector<nlohmann::json> epochs;  // "kind":"epoch" lines
  std::vector<nlohmann::json> probes;  // "kind":"probe" lines
};
RunData load_run(const std::string& dir);  // throws DataError when metrics.jsonl is missing/unreadable

// Draws the standard figures of a set of runs into out_dir and returns Markdown that shows them:
// loss and accuracy (%) per epoch, σ (min and median) per step with each run's ε (config.json's
// "mineps") as a reference line, effective learning rate, angular update, largest gradient element
// vs the float16 maximum, and per-layer σ / effective lr, the layers coloured first → last along a
// sequential palette.
std::string report_runs(const std::vector<RunData>& runs, const std::string& out_dir, const std::string& prefix = "");

// `eshift report DIR...`: every DIR that holds metrics.jsonl is a run; every DIR that holds
// summary.md from an experiment contributes the summary, which already shows its runs' table and
// figures (an older summary without figures: its runs, its subdirectories with metrics, are drawn
// with the other runs). Each table and figure appears once.
// Writes out_dir/report.md and the figures; returns the path of report.md.
std::string write_report(const std::vector<std::string>& dirs, const std::string& out_dir);

}  // namespace eshift
