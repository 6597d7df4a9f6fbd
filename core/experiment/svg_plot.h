// A small SVG chart writer for reports: scatter and line charts with error bars, and horizontal bar
// charts (one bar per category, its name on the left).
// Self-contained SVG 1.1 (no scripts, no external fonts or styles), so the file renders the same
// in a browser and as an image in GitHub's Markdown view.
//
// Every series is a <g class="series" data-series="NAME"> and every data point inside it a
// <g class="point" data-x="X" data-y="Y"> (with data-low / data-high for an error bar), so tests and
// tools can count and read the plotted data back from the DOM. Axes get "nice" ticks (1, 2, 5 x 10^k
// steps; decades on a logarithmic axis). Non-finite values are not plotted.
#pragma once

#include <string>
#include <vector>

namespace promptintern {

struct PlotPoint {
  double x = 0.0;  // for bar charts: ignored (point i is the bar of category i)
  double y = 0.0;
  // Error bar from low to high; drawn only when has_interval.
  bool has_interval = false;
  double low = 0.0;
  double high = 0.0;
  std::string label;  // shown beside the point (scatter) or under the bar; may be empty
};

struct PlotSeries {
  std::string name;
  std::vector<PlotPoint> points;
};

struct PlotSpec {
  enum class Kind { kScatter, kLines, kBars };
  Kind kind = Kind::kScatter;
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;          // scatter and lines; x values must be positive
  bool y_from_zero = false;    // include 0 on the y axis
  std::vector<std::string> categories;  // bars: one per point of each series, top to bottom
  int width = 900;
  int height = 440;
};

// The SVG document. Series colours come from a fixed colour-blind-safe palette in series order.
std::string RenderSvgPlot(const PlotSpec& spec, const std::vector<PlotSeries>& series);

// Axis ticks covering [low, high]: about `target` values at 1, 2 or 5 x 10^k steps.
std::vector<double> NiceTicks(double low, double high, int target);

}  // namespace promptintern
