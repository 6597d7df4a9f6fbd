#include "core/experiment/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace promptintern {
namespace {

// Okabe & Ito's palette, without its yellow (too faint on white).
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr double kTop = 44;
constexpr double kBottom = 64;
constexpr double kLegendWidth = 330;
constexpr double kCharWidth = 6.6;  // of the 12 px sans-serif labels, for layout
constexpr double kPointRadius = 4;
constexpr double kDodge = 7;  // px between points of different series that share an x

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Number(double value) { return absl::StrFormat("%.6g", value); }

// A tick label: as few digits as tell the ticks apart.
std::string TickLabel(double value, double step) {
  if (std::fabs(value) < step * 1e-9) return "0";
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  if (std::fabs(value) >= 1e6 || decimals > 6) return absl::StrFormat("%.3g", value);
  return absl::StrFormat("%.*f", decimals, value);
}

bool Plottable(const PlotPoint& p, bool bars, bool log_x) {
  if (!std::isfinite(p.y)) return false;
  return bars || (std::isfinite(p.x) && (!log_x || p.x > 0));
}

// A linear value axis over the data: nice ticks, and an extent that ends on ticks.
struct ValueAxis {
  double low = 0.0;
  double high = 1.0;
  double step = 1.0;
  std::vector<double> ticks;

  static ValueAxis Over(double data_low, double data_high, bool include_zero) {
    if (!(data_low <= data_high)) {
      data_low = 0.0;
      data_high = 1.0;
    }
    if (include_zero) {
      data_low = std::min(data_low, 0.0);
      data_high = std::max(data_high, 0.0);
    }
    ValueAxis axis;
    axis.ticks = NiceTicks(data_low, data_high, 6);
    if (axis.ticks.size() < 2) axis.ticks = {data_low, data_high + (data_high > data_low ? 0.0 : 1.0)};
    axis.step = axis.ticks[1] - axis.ticks[0];
    const double slack = axis.step * 1e-9;
    if (axis.ticks.front() > data_low + slack) axis.ticks.insert(axis.ticks.begin(), axis.ticks.front() - axis.step);
    if (axis.ticks.back() < data_high - slack) axis.ticks.push_back(axis.ticks.back() + axis.step);
    axis.low = axis.ticks.front();
    axis.high = axis.ticks.back();
    return axis;
  }
};

struct Frame {
  double left = 72;
  double width = 0;
  double height = 0;
};

void AppendFrame(std::string& svg, const PlotSpec& spec, const Frame& frame) {
  absl::StrAppendFormat(&svg, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" stroke=\"#333333\"/>\n",
                        Number(frame.left), Number(kTop), Number(frame.width), Number(frame.height));
  absl::StrAppendFormat(&svg, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>\n",
                        Number(frame.left + frame.width / 2), Number(spec.height - 12), Escape(spec.x_label));
  if (!spec.y_label.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text x=\"16\" y=\"%s\" text-anchor=\"middle\" transform=\"rotate(-90 16 %s)\">%s</text>\n",
                          Number(kTop + frame.height / 2), Number(kTop + frame.height / 2), Escape(spec.y_label));
  }
}

void AppendLegend(std::string& svg, const std::vector<PlotSeries>& series, double x) {
  svg += "<g class=\"legend\">\n";
  for (size_t s = 0; s < series.size(); ++s) {
    const double y = kTop + 8 + 20 * static_cast<double>(s);
    absl::StrAppendFormat(&svg, "<rect x=\"%s\" y=\"%s\" width=\"12\" height=\"12\" fill=\"%s\"/>", Number(x),
                          Number(y - 10), kPalette[s % kPaletteSize]);
    absl::StrAppendFormat(&svg, "<text x=\"%s\" y=\"%s\">%s</text>\n", Number(x + 18), Number(y), Escape(series[s].name));
  }
  svg += "</g>\n";
}

// <g class="point" data-...>: the opening tag of one data point.
std::string PointOpen(double x, const PlotPoint& p) {
  std::string open = absl::StrFormat("<g class=\"point\" data-x=\"%s\" data-y=\"%s\"", Number(x), Number(p.y));
  if (p.has_interval) absl::StrAppendFormat(&open, " data-low=\"%s\" data-high=\"%s\"", Number(p.low), Number(p.high));
  open += ">";
  if (!p.label.empty()) absl::StrAppendFormat(&open, "<title>%s</title>", Escape(p.label));
  return open;
}

// Scatter and line charts: x horizontal (linear or log), values vertical.
void AppendXYChart(std::string& svg, const PlotSpec& spec, const std::vector<PlotSeries>& series) {
  const bool log_x = spec.log_x;
  double x_data_low = INFINITY, x_data_high = -INFINITY, y_data_low = INFINITY, y_data_high = -INFINITY;
  for (const PlotSeries& s : series) {
    for (const PlotPoint& p : s.points) {
      if (!Plottable(p, false, log_x)) continue;
      const double x = log_x ? std::log10(p.x) : p.x;
      x_data_low = std::min(x_data_low, x);
      x_data_high = std::max(x_data_high, x);
      for (double y : {p.y, p.has_interval ? p.low : p.y, p.has_interval ? p.high : p.y}) {
        if (!std::isfinite(y)) continue;
        y_data_low = std::min(y_data_low, y);
        y_data_high = std::max(y_data_high, y);
      }
    }
  }
  const ValueAxis y_axis = ValueAxis::Over(y_data_low, y_data_high, spec.y_from_zero);
  Frame frame;
  frame.width = spec.width - frame.left - kLegendWidth;
  frame.height = spec.height - kTop - kBottom;

  std::vector<double> x_ticks;  // in axis units (log10 of the value on a log axis)
  double x_low = 0.0, x_high = 1.0, x_step = 1.0;
  if (!(x_data_low <= x_data_high)) x_data_low = x_data_high = log_x ? 1.0 : 0.0;
  if (log_x) {
    x_low = std::floor(x_data_low);
    x_high = std::max(std::ceil(x_data_high), x_low + 1);
    for (double decade = x_low; decade <= x_high + 1e-9; decade += 1) {
      for (double factor : {1.0, 2.0, 5.0}) {
        if (decade + std::log10(factor) <= x_high + 1e-9) x_ticks.push_back(decade + std::log10(factor));
      }
    }
  } else {
    const double pad = std::max((x_data_high - x_data_low) * 0.05, 0.5);
    const ValueAxis x_axis = ValueAxis::Over(x_data_low - pad, x_data_high + pad, false);
    x_ticks = x_axis.ticks;
    x_low = x_axis.low;
    x_high = x_axis.high;
    x_step = x_axis.step;
  }
  const auto px = [&](double axis_x) { return frame.left + (axis_x - x_low) / (x_high - x_low) * frame.width; };
  const auto py = [&](double y) { return kTop + frame.height - (y - y_axis.low) / (y_axis.high - y_axis.low) * frame.height; };

  svg += "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (double tick : y_axis.ticks) {
    absl::StrAppendFormat(&svg, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n", Number(frame.left), Number(py(tick)),
                          Number(frame.left + frame.width), Number(py(tick)));
  }
  for (double tick : x_ticks) {
    absl::StrAppendFormat(&svg, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n", Number(px(tick)), Number(kTop),
                          Number(px(tick)), Number(kTop + frame.height));
  }
  svg += "</g>\n<g class=\"tick-labels\" fill=\"#333333\">\n";
  for (double tick : y_axis.ticks) {
    absl::StrAppendFormat(&svg, "<text x=\"%s\" y=\"%s\" text-anchor=\"end\">%s</text>\n", Number(frame.left - 6),
                          Number(py(tick) + 4), TickLabel(tick, y_axis.step));
  }
  for (double tick : x_ticks) {
    const double value = log_x ? std::round(std::pow(10.0, tick) * 1e6) / 1e6 : tick;
    absl::StrAppendFormat(&svg, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>\n", Number(px(tick)),
                          Number(kTop + frame.height + 16), TickLabel(value, log_x ? value : x_step));
  }
  svg += "</g>\n";
  AppendFrame(svg, spec, frame);

  // Display-only horizontal dodge for points of different series at the same x; data-x keeps the value.
  std::map<long, std::vector<size_t>> owners_at;
  for (size_t s = 0; s < series.size(); ++s) {
    for (const PlotPoint& p : series[s].points) {
      if (!Plottable(p, false, log_x)) continue;
      std::vector<size_t>& owners = owners_at[std::lround(px(log_x ? std::log10(p.x) : p.x))];
      if (std::find(owners.begin(), owners.end(), s) == owners.end()) owners.push_back(s);
    }
  }
  const auto dodge = [&](long pixel, size_t s) {
    const std::vector<size_t>& owners = owners_at[pixel];
    const size_t i = std::find(owners.begin(), owners.end(), s) - owners.begin();
    return (static_cast<double>(i) - static_cast<double>(owners.size() - 1) / 2.0) * kDodge;
  };
  for (size_t s = 0; s < series.size(); ++s) {
    const char* color = kPalette[s % kPaletteSize];
    absl::StrAppendFormat(&svg, "<g class=\"series\" data-series=\"%s\" fill=\"%s\" stroke=\"%s\">\n",
                          Escape(series[s].name), color, color);
    std::string line;
    for (const PlotPoint& p : series[s].points) {
      if (!Plottable(p, false, log_x)) continue;
      const double raw = px(log_x ? std::log10(p.x) : p.x);
      const double cx = raw + dodge(std::lround(raw), s);
      const double cy = py(p.y);
      svg += PointOpen(p.x, p);
      absl::StrAppendFormat(&svg, "<circle cx=\"%s\" cy=\"%s\" r=\"%s\"/>", Number(cx), Number(cy), Number(kPointRadius));
      if (p.has_interval && std::isfinite(p.low) && std::isfinite(p.high)) {
        constexpr double kCap = 4;
        absl::StrAppendFormat(&svg,
                              "<path class=\"error-bar\" fill=\"none\" stroke-width=\"1.5\" "
                              "d=\"M%s %sV%sM%s %sH%sM%s %sH%s\"/>",
                              Number(cx), Number(py(p.low)), Number(py(p.high)), Number(cx - kCap), Number(py(p.low)),
                              Number(cx + kCap), Number(cx - kCap), Number(py(p.high)), Number(cx + kCap));
      }
      svg += "</g>\n";
      absl::StrAppend(&line, line.empty() ? "" : " ", Number(cx), ",", Number(cy));
    }
    if (spec.kind == PlotSpec::Kind::kLines && !line.empty()) {
      absl::StrAppendFormat(&svg, "<polyline class=\"line\" fill=\"none\" stroke-width=\"2\" points=\"%s\"/>\n", line);
    }
    svg += "</g>\n";
  }
  AppendLegend(svg, series, frame.left + frame.width + 16);
}

// Horizontal bars: categories top to bottom with their names on the left, values along x from 0.
void AppendBarChart(std::string& svg, const PlotSpec& spec, const std::vector<PlotSeries>& series) {
  size_t longest = 0;
  for (const std::string& category : spec.categories) longest = std::max(longest, category.size());
  Frame frame;
  frame.left = std::min(24 + kCharWidth * static_cast<double>(longest), spec.width * 0.5);
  frame.width = spec.width - frame.left - (series.size() > 1 ? kLegendWidth : 40);
  frame.height = spec.height - kTop - kBottom;
  double data_low = 0.0, data_high = 0.0;
  for (const PlotSeries& s : series) {
    for (const PlotPoint& p : s.points) {
      if (!std::isfinite(p.y)) continue;
      data_low = std::min(data_low, p.y);
      data_high = std::max(data_high, p.y);
    }
  }
  const ValueAxis axis = ValueAxis::Over(data_low, data_high, true);
  const auto px = [&](double value) { return frame.left + (value - axis.low) / (axis.high - axis.low) * frame.width; };
  const size_t categories = std::max<size_t>(1, spec.categories.size());
  const double band = frame.height / static_cast<double>(categories);
  const double thickness = band * 0.7 / static_cast<double>(std::max<size_t>(1, series.size()));

  svg += "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n";
  for (double tick : axis.ticks) {
    absl::StrAppendFormat(&svg, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>\n", Number(px(tick)), Number(kTop),
                          Number(px(tick)), Number(kTop + frame.height));
  }
  svg += "</g>\n<g class=\"tick-labels\" fill=\"#333333\">\n";
  for (double tick : axis.ticks) {
    absl::StrAppendFormat(&svg, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>\n", Number(px(tick)),
                          Number(kTop + frame.height + 16), TickLabel(tick, axis.step));
  }
  for (size_t i = 0; i < spec.categories.size(); ++i) {
    absl::StrAppendFormat(&svg, "<text x=\"%s\" y=\"%s\" text-anchor=\"end\">%s</text>\n", Number(frame.left - 8),
                          Number(kTop + band * (static_cast<double>(i) + 0.5) + 4), Escape(spec.categories[i]));
  }
  svg += "</g>\n";
  AppendFrame(svg, spec, frame);
  for (size_t s = 0; s < series.size(); ++s) {
    const char* color = kPalette[s % kPaletteSize];
    absl::StrAppendFormat(&svg, "<g class=\"series\" data-series=\"%s\" fill=\"%s\" stroke=\"%s\">\n",
                          Escape(series[s].name), color, color);
    for (size_t i = 0; i < series[s].points.size(); ++i) {
      const PlotPoint& p = series[s].points[i];
      if (!std::isfinite(p.y)) continue;
      const double top = kTop + band * (static_cast<double>(i) + 0.15) + thickness * static_cast<double>(s);
      const double start = px(std::min(0.0, p.y));
      svg += PointOpen(static_cast<double>(i), p);
      absl::StrAppendFormat(&svg, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" stroke=\"none\"/>", Number(start),
                            Number(top), Number(std::fabs(px(p.y) - px(0.0))), Number(thickness));
      absl::StrAppendFormat(&svg, "<text x=\"%s\" y=\"%s\" stroke=\"none\" fill=\"#333333\">%s</text>",
                            Number(px(std::max(0.0, p.y)) + 4), Number(top + thickness / 2 + 4),
                            absl::StrFormat("%.4g", p.y));
      svg += "</g>\n";
    }
    svg += "</g>\n";
  }
  if (series.size() > 1) AppendLegend(svg, series, frame.left + frame.width + 16);
}

}  // namespace

std::vector<double> NiceTicks(double low, double high, int target) {
  if (!std::isfinite(low) || !std::isfinite(high)) return {};
  if (high < low) std::swap(low, high);
  if (high == low) {
    const double pad = low == 0 ? 1.0 : std::fabs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const double raw = (high - low) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double tick = std::ceil(low / step - 1e-9) * step; tick <= high + step * 1e-9; tick += step) {
    ticks.push_back(std::fabs(tick) < step * 1e-9 ? 0.0 : tick);
  }
  return ticks;
}

std::string RenderSvgPlot(const PlotSpec& spec, const std::vector<PlotSeries>& series) {
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
      spec.width, spec.height, spec.width, spec.height);
  absl::StrAppendFormat(&svg, "<title>%s</title>\n", Escape(spec.title));
  absl::StrAppendFormat(&svg, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", spec.width, spec.height);
  absl::StrAppendFormat(&svg, "<text x=\"16\" y=\"24\" font-size=\"15\" font-weight=\"bold\">%s</text>\n",
                        Escape(spec.title));
  if (spec.kind == PlotSpec::Kind::kBars) {
    AppendBarChart(svg, spec, series);
  } else {
    AppendXYChart(svg, spec, series);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace promptintern
