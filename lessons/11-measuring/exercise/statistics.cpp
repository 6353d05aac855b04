// Chapter 11 exercise: the percentile ipc_bench reports (its p99 and max).
//
// Write percentile(samples, p): the p-th percentile of `samples` by the NEAREST-RANK rule.
// Sort the samples; the answer is the sample at 1-based rank ceil(p / 100 * n), n the number
// of samples, and never below rank 1. It is always a value that was measured, never one
// interpolated between two neighbours: percentile(1..100, 50) is 50, not 50.5;
// percentile({1, 2}, 50) is 1 and percentile({1, 2}, 51) is 2; p = 100 gives the maximum.
// The samples arrive in any order (take them by value and sort your copy).
// A rank that should be whole must stay whole: 99.9 * 1000 / 100 is not exactly 999 in
// floating point, and percentile(1..1000, 99.9) must still be 999 (not 1000).
//
// Checks, in this order, each throwing std::invalid_argument:
//   no samples                     -> message "percentile of no samples"
//   p not in (0, 100] (0, -5, 100.5, NaN) -> message "percentile must be in (0, 100]"
//
// Check:  scripts/exercise 11   (stuck? scripts/exercise 11 --hint)
//         --target lesson11 && ctest --preset exercises -L exercise11
#include <stdexcept>
#include <vector>

#include "measure/measure.hpp"

namespace measure {

double percentile(std::vector<double> samples, double p) {
    (void)samples;
    (void)p;
    throw std::logic_error("TODO(lesson11): write percentile() by the nearest-rank rule");
}

}  // namespace measure
