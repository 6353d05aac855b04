// Helpers shared by the unit tests: short temporary directories for socket files.
#pragma once

#include <string>

namespace test_support {

/// A fresh directory under /tmp (short, unlike most test frameworks' temp dirs, because
/// sun_path holds 108 bytes), removed with everything in it when the object goes.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    /// The directory's path.
    const std::string& path() const { return path_; }
    /// `path()/name`.
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    /// `unix:path()/name`, the course's address syntax.
    std::string unix_address(const std::string& name) const { return "unix:" + file(name); }

  private:
    std::string path_;
};

}  // namespace test_support
