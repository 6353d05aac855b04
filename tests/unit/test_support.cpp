#include "test_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace test_support {

TempDir::TempDir() {
    char pattern[] = "/tmp/rs-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace test_support
