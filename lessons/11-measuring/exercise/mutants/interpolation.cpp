// Mutant: The percentile interpolates between two neighbouring samples, not the nearest rank.
// Caught by: lesson11.Summarize.P99AndMaxSeeTheTailThatTheMedianHides
// Chapter 11's percentile, in a file of its own: it is the chapter's exercise
// (lessons/11-measuring/exercise/statistics.cpp stands in for it).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include "measure/measure.hpp"

namespace measure {

double percentile(std::vector<double> samples, double p) {
    if (samples.empty()) throw std::invalid_argument("percentile of no samples");
    if (!(p > 0 && p <= 100)) throw std::invalid_argument("percentile must be in (0, 100]");
    std::sort(samples.begin(), samples.end());
    // Nearest rank: the sample at 1-based position ceil(p/100 * n). The tiny subtraction keeps
    // a product that should be a whole number (99.9 * 1000 / 100) from rounding up past it.
    const double n = static_cast<double>(samples.size());
    const double rank = std::max(1.0, std::ceil(p * n / 100 - 1e-9));
    const double exact = p * (n - 1) / 100;
    const auto below = static_cast<std::size_t>(std::floor(exact));
    const std::size_t above = std::min(below + 1, samples.size() - 1);
    (void)rank;
    return samples[below] +
           (exact - static_cast<double>(below)) * (samples[above] - samples[below]);
}

}  // namespace measure
