// Reading arrays of numbers from .npy, CSV and text files, as the CLI does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shannon::io {

/// The element type an array had in its source.
enum class dtype { float32, float64, int64 };

/// A dense row-major array of up to two dimensions; values are held as double
/// (exact for float32, float64 and int64 up to 2^53) together with the source dtype.
struct array {
  std::vector<double> values;
  std::vector<std::size_t> shape;  ///< {n} for 1-D, {rows, cols} for 2-D
  dtype source = dtype::float64;

  [[nodiscard]] std::size_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  [[nodiscard]] std::size_t cols() const { return shape.empty() ? 0 : shape.back(); }
  [[nodiscard]] bool is_matrix() const { return shape.size() == 2; }
};

/// Parses a .npy file (format 1.0-3.0, float32, float64, int32 or int64 in either byte
/// order, C order, 0-D, 1-D or 2-D; a 0-D array is read as shape {1}); throws parse_error
/// naming the file and the problem.
array read_npy(const std::string& path);

/// Parses .npy bytes already in memory, as read_npy does; `name` is used in error messages.
array parse_npy(std::string_view bytes, std::string_view name);

/// Writes a 1-D or 2-D .npy file (version 1.0, little-endian, C order) byte for byte as
/// numpy.save does; throws shape_mismatch if shape does not hold values.size() values,
/// invalid_option for an int64 value that is not an integer in range, parse_error on I/O failure.
void write_npy(const std::string& path, const std::vector<double>& values,
               const std::vector<std::size_t>& shape, dtype type);
void write_npy(const std::string& path, const std::vector<float>& values,
               const std::vector<std::size_t>& shape);

/// Parses numbers separated by commas, spaces, tabs or semicolons, one row per line;
/// blank lines and lines starting with '#' are skipped. All rows must have the same
/// length; a single line gives a 1-D array. Throws parse_error naming `name`, the line,
/// the column and the offending text.
array parse_text(std::string_view text, std::string_view name);

/// Reads a .csv or .txt file with parse_text.
array read_text(const std::string& path);

/// Reads `spec`: "-" for standard input (text, or .npy if it starts with the npy magic),
/// a path ending in .npy, a path to an existing file (text, or .npy by its magic), or an
/// inline list such as "0.5,0.25,0.25" (errors name "argument"); any other spec throws
/// parse_error "<spec>: cannot open: No such file or directory (nor is it a list of numbers)".
array read_array(const std::string& spec);

/// The occurrences of each byte value in the file at `path` ("-": standard input), as
/// shannon::byte_counts counts them, without holding the file in memory: a regular file is
/// mapped a window at a time, anything else read in pieces. Throws parse_error naming the
/// file when it cannot be opened or read (a directory, a missing file).
std::array<std::uint64_t, 256> count_file_bytes(const std::string& path);

}  // namespace shannon::io
