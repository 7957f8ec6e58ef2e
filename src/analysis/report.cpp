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
}  // namespace

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
        const bool plottable = std::isfinite(y) && (!figure.log_y || y > 0);
        d << s.x[i] << " ";
        if (plottable) d << y; else d << "NaN";
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
    if (figure.log_y) g << "set logscale y\nset format y '%.0e'\n";
    g << "plot ";
    for (size_t i = 0; i < figure.series.size(); ++i)
      g << (i ? ", " : "") << quoted(dat) << " index " << i << " using 1:2 with linespoints pt 7 ps 0.4 lw 2 title "
        << quoted(figure.series[i].title);
    if (figure.series.empty()) g << "NaN notitle";
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
  return run;
}

namespace {
Series epoch_series(const RunData& r, const std::string& key, const std::string& title) {
  Series s{title, {}, {}};
  for (const auto& e : r.epochs) {
    s.x.push_back(e.at("epoch").get<double>());
    s.y.push_back(e.value(key, NAN));
  }
  return s;
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
                    e.at("epoch").get<int>(), e.value("train_loss", NAN), 100 * e.value("train_acc", NAN),
                    e.value("test_loss", NAN), 100 * e.value("test_acc", NAN), e.value("sigma_min", NAN),
                    r.probes.size());
    }
    md << row;
  }
  md << "\n";
  bool any_epochs = false, any_probes = false;
  for (const auto& r : runs) any_epochs |= !r.epochs.empty(), any_probes |= !r.probes.empty();
  if (any_epochs) {
    Figure loss{"Loss per epoch", "epoch", "cross-entropy", false, {}};
    Figure acc{"Accuracy per epoch", "epoch", "top-1", false, {}};
    for (const auto& r : runs) {
      loss.series.push_back(epoch_series(r, "train_loss", r.name + " train"));
      loss.series.push_back(epoch_series(r, "test_loss", r.name + " test"));
      acc.series.push_back(epoch_series(r, "train_acc", r.name + " train"));
      acc.series.push_back(epoch_series(r, "test_acc", r.name + " test"));
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
    draw("sigma", sigma);
    draw("effective_lr", lr);
    draw("angular_update", angle);
    draw("grad_vs_fp16", grad);
    for (const auto& r : runs) {
      if (r.probes.empty()) continue;
      Figure layer_sigma{r.name + ": median per-filter sigma of each layer", "step", "sigma", true, {}};
      Figure layer_lr{r.name + ": effective learning rate of each layer", "step", "effective lr", true, {}};
      const size_t layers = r.probes.front().at("layers").size();
      for (size_t i = 0; i < layers; ++i) {
        const auto name = r.probes.front().at("layers")[i].at("name").get<std::string>();
        layer_sigma.series.push_back(probe_series(r, name, [i](const auto& p) { return p.at("layers")[i].at("sigma").at("median").template get<double>(); }));
        layer_lr.series.push_back(probe_series(r, name, [i](const auto& p) { return p.at("layers")[i].at("effective_lr").template get<double>(); }));
      }
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
