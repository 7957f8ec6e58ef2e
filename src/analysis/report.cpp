#include "eshift/analysis/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "eshift/core/atomic_file.h"
#include "eshift/core/errors.h"

namespace eshift {

namespace fs = std::filesystem;

namespace {
std::string quoted(std::string s) {
  for (auto& c : s)
    if (c == '"' || c == '\\') c = '\'';
  return "\"" + s + "\"";
}

std::string stem(const std::string& png) { return png.substr(0, png.size() - 4); }

bool plottable(double y, bool log_y) { return std::isfinite(y) && (!log_y || y > 0); }

// Whether anything can be drawn: gnuplot refuses a plot where every point is undefined.
bool has_data(const Figure& f) {
  for (const auto& r : f.references)
    if (plottable(r.y, f.log_y)) return true;
  for (const auto& s : f.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && plottable(s.y[i], f.log_y)) return true;
  return false;
}
}  // namespace

std::string sequential_color(double t) {
  // viridis at 0, ¼, ½, ¾, 1, linearly interpolated between
  static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  char hex[8];
  int c[3];
  for (int k = 0; k < 3; ++k) c[k] = static_cast<int>(std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])));
  std::snprintf(hex, sizeof hex, "#%02x%02x%02x", c[0], c[1], c[2]);
  return hex;
}

void render_png(const Figure& figure, const std::string& png_path) {
  if (png_path.size() < 5 || png_path.substr(png_path.size() - 4) != ".png")
    throw std::invalid_argument(png_path + ": figure paths must end in .png");
  const std::string dat = stem(png_path) + ".dat", gp = stem(png_path) + ".gp";
  {
    std::ostringstream d;
    d.precision(10);
    for (const auto& s : figure.series) {
      d << "# " << s.title << "\n";
      for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
        const double y = s.y[i];
        d << s.x[i] << " ";
        if (plottable(y, figure.log_y)) d << y; else d << "NaN";
        d << "\n";
      }
      d << "\n\n";  // gnuplot index separator
    }
    write_text_atomic(dat, d.str());
  }
  // gnuplot draws into a temporary PNG, renamed over the figure once it is valid
  const std::string tmp_png = png_path + ".tmp.png";
  {
    std::ostringstream g;
    g << "set terminal pngcairo size 960,560 noenhanced font 'Sans,10'\n"
      << "set output " << quoted(tmp_png) << "\n"
      << "set title " << quoted(figure.title) << "\n"
      << "set xlabel " << quoted(figure.xlabel) << "\n"
      << "set ylabel " << quoted(figure.ylabel) << "\n"
      << "set grid\nset key below\n";
    if (!figure.key_title.empty()) g << "set key title " << quoted(figure.key_title) << "\n";
    if (figure.log_y) g << "set logscale y\nset format y '%.0e'\n";
    if (!has_data(figure))  // nothing measured yet: an empty frame that says so
      g << "set xrange [0:1]\nset yrange [" << (figure.log_y ? "0.1:1" : "0:1") << "]\n"
        << "set label 'no data' at graph 0.5, graph 0.5 center\n";
    g << "plot ";
    size_t n = 0;
    for (size_t i = 0; i < figure.series.size(); ++i) {
      g << (n++ ? ", " : "") << quoted(dat) << " index " << i << " using 1:2 with linespoints pt 7 ps 0.4 lw 2";
      if (!figure.series[i].color.empty()) g << " lc rgb " << quoted(figure.series[i].color);
      g << " title " << quoted(figure.series[i].title);
    }
    for (const auto& r : figure.references)
      if (plottable(r.y, figure.log_y))
        g << (n++ ? ", " : "") << r.y << " with lines dt 2 lw 2 lc rgb 'black' title " << quoted(r.title);
    if (n == 0) g << "NaN notitle";
    g << "\n";
    write_text_atomic(gp, g.str());
  }
  const std::string cmd = "gnuplot " + quoted(gp) + " 2> " + quoted(stem(png_path) + ".log");
  const int status = std::system(cmd.c_str());
  if (status != 0) {
    fs::remove(tmp_png);
    throw std::runtime_error(png_path + ": gnuplot failed (is gnuplot-nox installed? see " + stem(png_path) + ".log)");
  }
  if (!is_valid_png(tmp_png)) {
    fs::remove(tmp_png);
    throw std::runtime_error(png_path + ": gnuplot did not write a valid PNG (disk full?)");
  }
  fs::rename(tmp_png, png_path);
  fs::remove(stem(png_path) + ".log");
}

bool is_valid_png(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  static const std::string signature("\x89PNG\r\n\x1a\n", 8);
  if (b.size() < 8 + 25 + 12 || b.compare(0, 8, signature) != 0) return false;
  if (b.compare(12, 4, "IHDR") != 0) return false;
  return b.compare(b.size() - 8, 4, "IEND") == 0;
}

RunData load_run(const std::string& dir) {
  RunData run;
  run.dir = dir;
  run.name = fs::path(dir).lexically_normal().filename().string();
  if (run.name.empty() || run.name == ".") run.name = fs::absolute(dir).parent_path().filename().string();
  const std::string path = dir + "/metrics.jsonl";
  std::ifstream in(path);
  if (!in) throw DataError(path + ": no metrics.jsonl (not a run directory written by eshift train --out)");
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception&) {
      throw DataError(path + ": line " + std::to_string(number) + " is not JSON");
    }
    const auto kind = j.value("kind", std::string("epoch"));
    (kind == "probe" ? run.probes : run.epochs).push_back(j);
  }
  std::ifstream config(dir + "/config.json");
  if (config) run.config = nlohmann::json::parse(config, nullptr, /*allow_exceptions=*/false);
  return run;
}

namespace {
Series epoch_series(const RunData& r, const std::string& key, const std::string& title, double scale = 1) {
  Series s{title, {}, {}};
  for (const auto& e : r.epochs) {
    s.x.push_back(e.at("epoch").get<double>());
    s.y.push_back(scale * e.value(key, double(NAN)));
  }
  return s;
}

// ε of a run (config.json's "mineps": the ε-shift's ε and the probes' σ threshold); NaN if unknown.
double run_eps(const RunData& r) {
  return r.config.is_object() && r.config.contains("mineps") && r.config.at("mineps").is_number()
             ? r.config.at("mineps").get<double>()
             : NAN;
}

std::string format_g(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// One reference line per distinct ε among the runs, "ε = 0.001" (with the runs' names when they differ).
std::vector<ReferenceLine> eps_lines(const std::vector<RunData>& runs) {
  std::map<double, std::string> names;
  for (const auto& r : runs) {
    const double eps = run_eps(r);
    if (!std::isfinite(eps) || eps <= 0) continue;
    names[eps] += (names[eps].empty() ? "" : ", ") + r.name;
  }
  std::vector<ReferenceLine> out;
  for (const auto& [eps, who] : names)
    out.push_back({eps, "ε = " + format_g(eps) + (names.size() > 1 ? " (" + who + ")" : "")});
  return out;
}

template <typename Get>
Series probe_series(const RunData& r, const std::string& title, Get get) {
  Series s{title, {}, {}};
  for (const auto& p : r.probes) {
    s.x.push_back(p.at("step").get<double>());
    s.y.push_back(get(p));
  }
  return s;
}

double median_of_layers(const nlohmann::json& probe, const std::string& stat) {
  std::vector<double> v;
  for (const auto& l : probe.at("layers")) v.push_back(l.at("sigma").at(stat).get<double>());
  if (v.empty()) return NAN;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

std::string link(const std::string& file, const std::string& title) {
  return "![" + title + "](" + file + ")\n\n";
}
}  // namespace

std::string report_runs(const std::vector<RunData>& runs, const std::string& out_dir, const std::string& prefix) {
  fs::create_directories(out_dir);
  std::ostringstream md;
  auto draw = [&](const std::string& name, Figure fig) {
    const std::string file = prefix + name + ".png";
    render_png(fig, out_dir + "/" + file);
    md << link(file, fig.title);
  };
  // summary table
  md << "| run | epochs | train loss | train acc | test loss | test acc | min σ | probes |\n"
        "|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : runs) {
    char row[512];
    if (r.epochs.empty()) {
      std::snprintf(row, sizeof row, "| %s | 0 | | | | | | %zu |\n", r.name.c_str(), r.probes.size());
    } else {
      const auto& e = r.epochs.back();
      std::snprintf(row, sizeof row, "| %s | %d | %.4f | %.2f%% | %.4f | %.2f%% | %.3g | %zu |\n", r.name.c_str(),
                    e.at("epoch").get<int>(), e.value("train_loss", double(NAN)), 100 * e.value("train_acc", double(NAN)),
                    e.value("test_loss", double(NAN)), 100 * e.value("test_acc", double(NAN)), e.value("sigma_min", double(NAN)),
                    r.probes.size());
    }
    md << row;
  }
  md << "\n";
  bool any_epochs = false, any_probes = false;
  for (const auto& r : runs) any_epochs |= !r.epochs.empty(), any_probes |= !r.probes.empty();
  if (any_epochs) {
    Figure loss{"Loss per epoch", "epoch", "cross-entropy", false, {}};
    Figure acc{"Accuracy per epoch (top-1)", "epoch", "accuracy (%)", false, {}};  // in % as the tables
    for (const auto& r : runs) {
      loss.series.push_back(epoch_series(r, "train_loss", r.name + " train"));
      loss.series.push_back(epoch_series(r, "test_loss", r.name + " test"));
      acc.series.push_back(epoch_series(r, "train_acc", r.name + " train", 100));
      acc.series.push_back(epoch_series(r, "test_acc", r.name + " test", 100));
    }
    draw("loss", loss);
    draw("accuracy", acc);
  }
  if (any_probes) {
    Figure sigma{"Per-filter sigma of the conv weights (min and median over layers of the median)", "step", "sigma",
                 true, {}};
    Figure lr{"Effective learning rate (median over layers)", "step", "effective lr", true, {}};
    Figure angle{"Angular update per step (median over filters)", "step", "radians", true, {}};
    Figure grad{"Largest loss-gradient element / float16 max (65504)", "step", "ratio", true, {}};
    for (const auto& r : runs) {
      sigma.series.push_back(probe_series(r, r.name + " min", [](const auto& p) { return p.at("sigma_min").template get<double>(); }));
      sigma.series.push_back(probe_series(r, r.name + " median", [](const auto& p) { return median_of_layers(p, "median"); }));
      lr.series.push_back(probe_series(r, r.name, [](const auto& p) { return p.at("effective_lr_median").template get<double>(); }));
      angle.series.push_back(probe_series(r, r.name, [](const auto& p) { return p.at("angular_update_median").template get<double>(); }));
      grad.series.push_back(probe_series(r, r.name, [](const auto& p) { return p.at("fp16_ratio").template get<double>(); }));
    }
    sigma.references = eps_lines(runs);
    draw("sigma", sigma);
    draw("effective_lr", lr);
    draw("angular_update", angle);
    draw("grad_vs_fp16", grad);
    for (const auto& r : runs) {
      if (r.probes.empty()) continue;
      Figure layer_sigma{r.name + ": median per-filter sigma of each layer", "step", "sigma", true, {}};
      Figure layer_lr{r.name + ": effective learning rate of each layer", "step", "effective lr", true, {}};
      const size_t layers = r.probes.front().at("layers").size();
      // colours by depth: layer k of n at k/(n−1) along the palette, so neighbours look alike
      layer_sigma.key_title = layer_lr.key_title = "layers by depth: first (dark purple) → last (yellow)";
      for (size_t i = 0; i < layers; ++i) {
        const auto name = r.probes.front().at("layers")[i].at("name").get<std::string>();
        const auto color = sequential_color(layers > 1 ? double(i) / double(layers - 1) : 0.0);
        layer_sigma.series.push_back(probe_series(r, name, [i](const auto& p) { return p.at("layers")[i].at("sigma").at("median").template get<double>(); }));
        layer_lr.series.push_back(probe_series(r, name, [i](const auto& p) { return p.at("layers")[i].at("effective_lr").template get<double>(); }));
        layer_sigma.series.back().color = layer_lr.series.back().color = color;
      }
      layer_sigma.references = eps_lines({r});
      draw("layers_sigma_" + r.name, layer_sigma);
      draw("layers_effective_lr_" + r.name, layer_lr);
    }
  }
  return md.str();
}

std::string write_report(const std::vector<std::string>& dirs, const std::string& out_dir) {
  if (dirs.empty()) throw std::invalid_argument("report needs at least one run or experiment directory");
  std::vector<RunData> runs;
  std::ostringstream experiments;
  for (const auto& dir : dirs) {
    if (!fs::is_directory(dir)) throw DataError(dir + ": no such directory");
    if (fs::exists(dir + "/metrics.jsonl")) {
      runs.push_back(load_run(dir));
    } else if (fs::exists(dir + "/summary.md")) {
      std::ifstream in(dir + "/summary.md");
      std::string summary((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // the summary's figure links are relative to its own directory
      const std::string rel = fs::relative(fs::absolute(dir), fs::absolute(out_dir)).string() + "/";
      for (size_t at = summary.find("]("); at != std::string::npos; at = summary.find("](", at + 2 + rel.size()))
        summary.insert(at + 2, rel);
      experiments << "## Experiment " << fs::path(dir).filename().string() << " (" << dir << ")\n\n" << summary << "\n";
      // the experiments embed their runs' table and figures (report_runs) in the summary: drawing
      // them again would show each twice
      if (summary.find("![") != std::string::npos) continue;
      std::vector<std::string> subdirs;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_directory() && fs::exists(e.path() / "metrics.jsonl")) subdirs.push_back(e.path().string());
      std::sort(subdirs.begin(), subdirs.end());
      for (const auto& s : subdirs) runs.push_back(load_run(s));
    } else {
      throw DataError(dir + ": neither a run (metrics.jsonl) nor an experiment (summary.md) directory");
    }
  }
  // runs of the same directory name (two experiments' plain_l2, say) get their parent's name in front,
  // so their figures do not overwrite each other
  std::map<std::string, int> uses;
  for (const auto& r : runs) ++uses[r.name];
  for (auto& r : runs)
    if (uses[r.name] > 1) r.name = fs::absolute(r.dir).lexically_normal().parent_path().filename().string() + "_" + r.name;
  fs::create_directories(out_dir);
  std::ostringstream md;
  md << "# eshift report\n\nSources:";
  for (const auto& d : dirs) md << " `" << d << "`";
  md << "\n\n";
  if (!runs.empty()) md << "## Runs\n\n" << report_runs(runs, out_dir);
  md << experiments.str();
  const std::string path = out_dir + "/report.md";
  write_text_atomic(path, md.str());
  return path;
}

}  // namespace eshift
