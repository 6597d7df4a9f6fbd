// The report's SVG writer (core/experiment/svg_plot.h): nice ticks at known values, and the data
// read back from the document's series and points (what the browser test counts in Chromium).
#include "core/experiment/svg_plot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace promptintern {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pointwise;

size_t Count(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

TEST(SvgPlotTest, NiceTicksStepBy1_2Or5TimesAPowerOfTen) {
  EXPECT_THAT(NiceTicks(0.0, 10.0, 5), Pointwise(DoubleNear(1e-12), std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_THAT(NiceTicks(0.13, 0.61, 5), Pointwise(DoubleNear(1e-12), std::vector<double>{0.2, 0.3, 0.4, 0.5, 0.6}));
  EXPECT_THAT(NiceTicks(-7.0, 12.0, 4), Pointwise(DoubleNear(1e-12), std::vector<double>{-5, 0, 5, 10}));
  // A degenerate range is widened around its value; non-finite ranges have no ticks.
  EXPECT_FALSE(NiceTicks(3.0, 3.0, 5).empty());
  EXPECT_TRUE(NiceTicks(NAN, 1.0, 5).empty());
}

TEST(SvgPlotTest, EverySeriesAndPlottablePointIsInTheDocument) {
  PlotSpec spec;
  spec.kind = PlotSpec::Kind::kScatter;
  spec.title = "BLEU <vs> tokens & cost";
  spec.log_x = true;
  std::vector<PlotSeries> series = {
      {"A \"quoted\" row", {{.x = 31, .y = 7.5, .has_interval = true, .low = 6.9, .high = 8.1}}},
      {"B", {{.x = 650, .y = 8.2}, {.x = -1, .y = 3.0} /* not on a log axis */, {.x = 10, .y = NAN}}},
  };
  const std::string svg = RenderSvgPlot(spec, series);
  EXPECT_EQ(Count(svg, "<g class=\"series\""), 2u);
  EXPECT_EQ(Count(svg, "<g class=\"point\""), 2u);  // the two non-plottable points are left out
  EXPECT_EQ(Count(svg, "class=\"error-bar\""), 1u);
  EXPECT_THAT(svg, HasSubstr("data-series=\"A &quot;quoted&quot; row\""));
  EXPECT_THAT(svg, HasSubstr("data-x=\"31\" data-y=\"7.5\" data-low=\"6.9\" data-high=\"8.1\""));
  EXPECT_THAT(svg, HasSubstr("<title>BLEU &lt;vs&gt; tokens &amp; cost</title>"));
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
  EXPECT_EQ(svg.rfind("</svg>\n"), svg.size() - 7);
}

TEST(SvgPlotTest, LinesAndBarsKeepOnePointPerValue) {
  PlotSpec lines;
  lines.kind = PlotSpec::Kind::kLines;
  const std::string curve = RenderSvgPlot(lines, {{"s", {{.x = 1, .y = 0.1}, {.x = 2, .y = 0.3}, {.x = 3, .y = 0.2}}}});
  EXPECT_EQ(Count(curve, "<g class=\"point\""), 3u);
  EXPECT_EQ(Count(curve, "<polyline"), 1u);

  PlotSpec bars;
  bars.kind = PlotSpec::Kind::kBars;
  bars.categories = {"first", "second"};
  const std::string chart = RenderSvgPlot(bars, {{"$", {{.y = 0.05}, {.y = 0.36}}}});
  EXPECT_EQ(Count(chart, "<g class=\"point\""), 2u);
  EXPECT_THAT(chart, HasSubstr(">first</text>"));
  EXPECT_THAT(chart, HasSubstr("data-x=\"1\" data-y=\"0.36\""));
}

}  // namespace
}  // namespace promptintern
