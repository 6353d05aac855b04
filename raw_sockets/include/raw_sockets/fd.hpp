/// \file
/// \brief Fd: the one owner of a file descriptor.
#pragma once

#include <utility>

namespace raw_sockets {

/// Owns one file descriptor and closes it exactly once. Move-only, so a descriptor can change
/// hands (returned from a function, stored in a container) but never be closed twice.
class Fd {
  public:
    /// An empty Fd that owns nothing.
    Fd() noexcept = default;
    /// Takes ownership of `fd` (which may be -1 for "nothing").
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    /// Takes the descriptor from `other`, which is left empty.
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    /// Closes what this owns, then takes the descriptor from `other`.
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    ~Fd() { reset(); }

    /// The descriptor number, or -1 when empty. Ownership stays here.
    int get() const noexcept { return fd_; }
    /// True when this owns a descriptor.
    explicit operator bool() const noexcept { return fd_ >= 0; }
    /// Gives up ownership without closing; the caller must close the result.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    /// Closes the current descriptor (if any) and takes ownership of `fd`.
    void reset(int fd = -1) noexcept;

  private:
    int fd_ = -1;
};

}  // namespace raw_sockets
