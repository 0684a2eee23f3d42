// Errors: every failure of the library is a shannon::error with a message
// that names the offending argument, index and value.
#pragma once

#include <stdexcept>
#include <string>

namespace shannon {

/// Root of every exception the library throws; what() names the argument, the index and the value.
class error : public std::invalid_argument {
 public:
  explicit error(const std::string& message) : std::invalid_argument(message) {}
};

/// A probability vector that is empty, non-finite, negative or does not sum to 1.
class invalid_distribution : public error {
 public:
  using error::error;
};

/// Lengths or shapes that do not agree, such as p and q of different sizes.
class shape_mismatch : public error {
 public:
  using error::error;
};

/// An option outside its domain, such as a base <= 1 or a class index out of range.
class invalid_option : public error {
 public:
  using error::error;
};

/// A file or text that cannot be read as numbers: missing, malformed, truncated or unsupported.
class parse_error : public error {
 public:
  using error::error;
};

}  // namespace shannon
