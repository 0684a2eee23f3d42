#include "shannon/io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "shannon/error.h"

namespace shannon::io {
namespace {

namespace fs = std::filesystem;

// Files written by numpy 1.24 (Debian bookworm's python3-numpy), e.g.
// np.save(f, np.array([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]])) for kNumpyF8Matrix and
// numpy.lib.format.write_array(f, a, version=(2, 0)) for kNumpyF8Version2.
//   kNumpyF4Vector     np.array([0.5, 0.25, 0.125, 0.125], dtype=np.float32)
//   kNumpyI4Vector     np.array([3, -1, 7], dtype=np.int32)
//   kNumpyI8Matrix     np.array([[1, 2], [3, -4]], dtype=np.int64)
//   kNumpyF8Version2/3 np.array([1.5, -2.0]) / np.array([0.75, 0.25])
//   kNumpyF8BigEndian  np.array([0.5, 0.25], dtype='>f8')
//   kNumpyI4BigEndian  np.array([1, -2], dtype='>i4')
//   kNumpyF8Scalar     np.float64(2.5)
//   kNumpyF8Fortran    np.asfortranarray(np.array([[1., 2.], [3., 4.]]))
//   kNumpyF8Cube       np.zeros((1, 1, 2))
//   kNumpyComplex      np.array([1 + 2j])
//   kNumpyF8NonFinite  np.array([np.nan, np.inf, -np.inf, 0.0])
//   kNumpyF8Empty      np.zeros((0,))
constexpr std::string_view kNumpyF8Matrix{
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, '"
    "shape': (2, 3), }                                               "
    "           \012\000\000\000\000\000\000\340\077\000\000\000\000\000"
    "\000\320\077\000\000\000\000\000\000\320\077\232\231\231\231\231"
    "\231\271\077\232\231\231\231\231\231\311\077ffffff\346\077",
    176};
constexpr std::string_view kNumpyF4Vector{
    "\223NUMPY\001\000v\000{'descr': '<f4', 'fortran_order': False, '"
    "shape': (4,), }                                                 "
    "           \012\000\000\000\077\000\000\200>\000\000\000>\000\000"
    "\000>",
    144};
constexpr std::string_view kNumpyI4Vector{
    "\223NUMPY\001\000v\000{'descr': '<i4', 'fortran_order': False, '"
    "shape': (3,), }                                                 "
    "           \012\003\000\000\000\377\377\377\377\007\000\000\000",
    140};
constexpr std::string_view kNumpyI8Matrix{
    "\223NUMPY\001\000v\000{'descr': '<i8', 'fortran_order': False, '"
    "shape': (2, 2), }                                               "
    "           \012\001\000\000\000\000\000\000\000\002\000\000\000\000"
    "\000\000\000\003\000\000\000\000\000\000\000\374\377\377\377\377"
    "\377\377\377",
    160};
constexpr std::string_view kNumpyF8Version2{
    "\223NUMPY\002\000t\000\000\000{'descr': '<f8', 'fortran_order': "
    "False, 'shape': (2,), }                                         "
    "                 \012\000\000\000\000\000\000\370\077\000\000\000"
    "\000\000\000\000\300",
    144};
constexpr std::string_view kNumpyF8Version3{
    "\223NUMPY\003\000t\000\000\000{'descr': '<f8', 'fortran_order': "
    "False, 'shape': (2,), }                                         "
    "                 \012\000\000\000\000\000\000\350\077\000\000\000"
    "\000\000\000\320\077",
    144};
constexpr std::string_view kNumpyF8BigEndian{
    "\223NUMPY\001\000v\000{'descr': '>f8', 'fortran_order': False, '"
    "shape': (2,), }                                                 "
    "           \012\077\340\000\000\000\000\000\000\077\320\000\000\000"
    "\000\000\000",
    144};
constexpr std::string_view kNumpyI4BigEndian{
    "\223NUMPY\001\000v\000{'descr': '>i4', 'fortran_order': False, '"
    "shape': (2,), }                                                 "
    "           \012\000\000\000\001\377\377\377\376",
    136};
constexpr std::string_view kNumpyF8Scalar{
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, '"
    "shape': (), }                                                   "
    "           \012\000\000\000\000\000\000\004@",
    136};
constexpr std::string_view kNumpyF8Fortran{
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': True, 's"
    "hape': (2, 2), }                                                "
    "           \012\000\000\000\000\000\000\360\077\000\000\000\000\000"
    "\000\010@\000\000\000\000\000\000\000@\000\000\000\000\000\000\020"
    "@",
    160};
constexpr std::string_view kNumpyF8Cube{
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, '"
    "shape': (1, 1, 2), }                                            "
    "           \012\000\000\000\000\000\000\000\000\000\000\000\000\000"
    "\000\000\000",
    144};
constexpr std::string_view kNumpyComplex{
    "\223NUMPY\001\000v\000{'descr': '<c16', 'fortran_order': False, "
    "'shape': (1,), }                                                "
    "           \012\000\000\000\000\000\000\360\077\000\000\000\000\000"
    "\000\000@",
    144};
constexpr std::string_view kNumpyF8NonFinite{
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, '"
    "shape': (4,), }                                                 "
    "           \012\000\000\000\000\000\000\370\177\000\000\000\000\000"
    "\000\360\177\000\000\000\000\000\000\360\377\000\000\000\000\000"
    "\000\000\000",
    160};
constexpr std::string_view kNumpyF8Empty{
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, '"
    "shape': (0,), }                                                 "
    "           \012",
    128};

/// Succeeds if `f` throws a parse_error whose message contains `expected`.
template <typename F>
::testing::AssertionResult throws_parse_error(F&& f, std::string_view expected) {
  try {
    f();
  } catch (const parse_error& e) {
    if (std::string_view(e.what()).find(expected) != std::string_view::npos) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "message \"" << e.what() << "\" does not contain \"" << expected << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw; expected \"" << expected << "\"";
}

/// A version `major`.0 .npy file with the given header dict and data bytes.
std::string make_npy(std::string_view dict, std::string_view data = {}, int major = 1) {
  const std::string header = std::string(dict) + "\n";
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) {
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return out + header + std::string(data);
}

std::string float64_bytes(const std::vector<double>& values) {
  std::string out(values.size() * sizeof(double), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Succeeds if `f` returns or throws parse_error, and fails on anything else.
template <typename F>
::testing::AssertionResult returns_or_throws_parse_error(F&& f) {
  try {
    f();
  } catch (const parse_error&) {
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another exception: " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "threw a non-standard exception";
  }
  return ::testing::AssertionSuccess();
}

class io_files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("shannon_io_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  [[nodiscard]] std::string path(std::string_view name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

// ---- .npy reading ----

TEST(parse_npy, reads_numpy_float64_matrix) {
  const array a = parse_npy(kNumpyF8Matrix, "m.npy");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(a.values, (std::vector<double>{0.5, 0.25, 0.25, 0.1, 0.2, 0.7}));
  EXPECT_EQ(a.source, dtype::float64);
  EXPECT_TRUE(a.is_matrix());
  EXPECT_EQ(a.rows(), 2u);
  EXPECT_EQ(a.cols(), 3u);
}

TEST(parse_npy, reads_numpy_float32_vector) {
  const array a = parse_npy(kNumpyF4Vector, "v.npy");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{4}));
  EXPECT_EQ(a.values, (std::vector<double>{0.5, 0.25, 0.125, 0.125}));
  EXPECT_EQ(a.source, dtype::float32);
  EXPECT_FALSE(a.is_matrix());
}

TEST(parse_npy, reads_numpy_integers_as_int64) {
  const array v = parse_npy(kNumpyI4Vector, "i4.npy");
  EXPECT_EQ(v.shape, (std::vector<std::size_t>{3}));
  EXPECT_EQ(v.values, (std::vector<double>{3, -1, 7}));
  EXPECT_EQ(v.source, dtype::int64);
  const array m = parse_npy(kNumpyI8Matrix, "i8.npy");
  EXPECT_EQ(m.shape, (std::vector<std::size_t>{2, 2}));
  EXPECT_EQ(m.values, (std::vector<double>{1, 2, 3, -4}));
  EXPECT_EQ(m.source, dtype::int64);
}

TEST(parse_npy, reads_format_versions_2_and_3) {
  EXPECT_EQ(parse_npy(kNumpyF8Version2, "v2.npy").values, (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(parse_npy(kNumpyF8Version3, "v3.npy").values, (std::vector<double>{0.75, 0.25}));
  const std::string v2 =
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", {}, 2);
  EXPECT_EQ(parse_npy(v2, "v2.npy").source, dtype::float32);
}

TEST(parse_npy, converts_big_endian) {
  const array f = parse_npy(kNumpyF8BigEndian, "be.npy");
  EXPECT_EQ(f.values, (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(f.source, dtype::float64);
  const array i = parse_npy(kNumpyI4BigEndian, "be.npy");
  EXPECT_EQ(i.values, (std::vector<double>{1, -2}));
  EXPECT_EQ(i.source, dtype::int64);
}

TEST(parse_npy, reads_0d_array_as_one_element_vector) {
  const array a = parse_npy(kNumpyF8Scalar, "s.npy");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{1}));
  EXPECT_EQ(a.values, (std::vector<double>{2.5}));
}

TEST(parse_npy, passes_non_finite_values_through) {
  const array a = parse_npy(kNumpyF8NonFinite, "n.npy");
  ASSERT_EQ(a.values.size(), 4u);
  EXPECT_TRUE(std::isnan(a.values[0]));
  EXPECT_EQ(a.values[1], INFINITY);
  EXPECT_EQ(a.values[2], -INFINITY);
  EXPECT_EQ(a.values[3], 0.0);
}

TEST(parse_npy, reads_empty_array) {
  const array a = parse_npy(kNumpyF8Empty, "e.npy");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{0}));
  EXPECT_TRUE(a.values.empty());
}

TEST(parse_npy, accepts_header_spellings_python_allows) {
  const std::string data = float64_bytes({1, 2});
  for (const char* dict : {
           "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
           R"({"descr": "<f8", "fortran_order": False, "shape": (2,)})",
           "{ 'shape' : ( 2 , ) , 'fortran_order':False,'descr':'=f8' }   ",
           "{'descr': '|f8', 'fortran_order': False, 'shape': (2L,),}",
           "{'descr': 'f8', 'fortran_order': False, 'shape': (1, 2)}",
       }) {
    EXPECT_EQ(parse_npy(make_npy(dict, data), "h.npy").values, (std::vector<double>{1, 2})) << dict;
  }
}

TEST(parse_npy, rejects_unsupported_arrays) {
  EXPECT_TRUE(throws_parse_error([] { parse_npy(kNumpyComplex, "x.npy"); },
                                 "x.npy: unsupported dtype '<c16' (expected float32 or float64, "
                                 "int32 or int64)"));
  EXPECT_TRUE(throws_parse_error([] { parse_npy(kNumpyF8Fortran, "x.npy"); },
                                 "x.npy: Fortran order is not supported"));
  EXPECT_TRUE(throws_parse_error([] { parse_npy(kNumpyF8Cube, "x.npy"); },
                                 "x.npy: 3-D arrays are not supported"));
  EXPECT_TRUE(throws_parse_error(
      [] {
        parse_npy(make_npy("{'descr': '<u8', 'fortran_order': False, 'shape': (0,)}"), "x.npy");
      },
      "x.npy: unsupported dtype '<u8'"));
  EXPECT_TRUE(throws_parse_error(
      [] {
        parse_npy(make_npy("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (0,)}"),
                  "x.npy");
      },
      "x.npy: structured dtypes are not supported"));
}

TEST(parse_npy, rejects_truncated_data) {
  const std::string q = make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000,), }",
                                 std::string(120, 'x'));
  EXPECT_TRUE(throws_parse_error(
      [&] { parse_npy(q, "q.npy"); },
      "q.npy: truncated: header says 1000 float64 values (8000 bytes) but only 120 bytes follow"));
  EXPECT_TRUE(throws_parse_error(
      [] { parse_npy(kNumpyF8Matrix.substr(0, kNumpyF8Matrix.size() - 1), "m.npy"); },
      "m.npy: truncated: header says 6 float64 values (48 bytes) but only 47 bytes follow"));
  EXPECT_TRUE(throws_parse_error([] { parse_npy(kNumpyF8Matrix.substr(0, 8), "m.npy"); },
                                 "m.npy: truncated: only 8 bytes, too short for a .npy file"));
  EXPECT_TRUE(throws_parse_error([] { parse_npy(kNumpyF8Matrix.substr(0, 3), "m.npy"); },
                                 "m.npy: truncated: only 3 bytes"));
  EXPECT_TRUE(
      throws_parse_error([] { parse_npy(kNumpyF8Matrix.substr(0, 50), "m.npy"); },
                         "m.npy: truncated: header length is 118 bytes but only 40 follow"));
  EXPECT_TRUE(throws_parse_error([] { parse_npy("", "m.npy"); }, "m.npy: truncated: only 0 bytes"));
}

TEST(parse_npy, rejects_trailing_bytes) {
  const std::string extra = std::string(kNumpyF4Vector) + "abc";
  EXPECT_TRUE(throws_parse_error([&] { parse_npy(extra, "x.npy"); },
                                 "x.npy: 3 unexpected bytes after the 4 float32 values"));
}

TEST(parse_npy, rejects_shapes_too_large_to_address) {
  EXPECT_TRUE(throws_parse_error(
      [] {
        parse_npy(make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999,)}"),
                  "x.npy");
      },
      "x.npy: truncated: header says 99999999999999 float64 values (799999999999992 bytes) but "
      "only 0 bytes follow"));
  EXPECT_TRUE(throws_parse_error(
      [] {
        parse_npy(make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': "
                           "(99999999999999, 99999999999999)}"),
                  "x.npy");
      },
      "x.npy: shape (99999999999999, 99999999999999) is too large"));
  // 2^62 elements fit in size_t but 2^62 * 8 bytes do not.
  EXPECT_TRUE(throws_parse_error(
      [] {
        parse_npy(
            make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,)}"),
            "x.npy");
      },
      "x.npy: shape (4611686018427387904,) is too large"));
  EXPECT_TRUE(throws_parse_error(
      [] {
        parse_npy(make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': "
                           "(123456789012345678901234567890,)}"),
                  "x.npy");
      },
      "x.npy: shape dimension '123456789012345678901234567890' is too large"));
}

TEST(parse_npy, rejects_bad_prelude) {
  EXPECT_TRUE(throws_parse_error([] { parse_npy("0.5,0.5\n", "x.npy"); },
                                 "x.npy: not a .npy file (it does not start with \\x93NUMPY)"));
  std::string v4(kNumpyF8Matrix);
  v4[6] = 4;
  EXPECT_TRUE(
      throws_parse_error([&] { parse_npy(v4, "x.npy"); },
                         "x.npy: unsupported .npy format version 4.0 (expected 1.0, 2.0 or 3.0)"));
  std::string v11(kNumpyF8Matrix);
  v11[7] = 1;
  EXPECT_TRUE(throws_parse_error([&] { parse_npy(v11, "x.npy"); },
                                 "x.npy: unsupported .npy format version 1.1"));
}

TEST(parse_npy, rejects_malformed_headers) {
  const auto error_for = [](const char* dict) {
    return [dict] { parse_npy(make_npy(dict), "x.npy"); };
  };
  EXPECT_TRUE(throws_parse_error(error_for("{'descr': '<f8', 'fortran_order': False}"),
                                 "x.npy: header has no 'shape' key"));
  EXPECT_TRUE(throws_parse_error(error_for("{'descr': '<f8', 'shape': (1,)}"),
                                 "x.npy: header has no 'fortran_order' key"));
  EXPECT_TRUE(throws_parse_error(
      error_for("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}"),
      "x.npy: malformed header at byte 27: duplicate key 'descr'"));
  EXPECT_TRUE(throws_parse_error(
      error_for("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}"),
      "malformed header at byte 66: unexpected key 'x'"));
  EXPECT_TRUE(
      throws_parse_error(error_for("{'descr': '<f8', 'fortran_order': False, 'shape': (1)}"),
                         "a 1-element shape needs a trailing comma, as in (5,)"));
  EXPECT_TRUE(throws_parse_error(error_for("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}"),
                                 "malformed header at byte 44: expected True or False"));
  EXPECT_TRUE(
      throws_parse_error(error_for("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}"),
                         "expected a non-negative integer in the shape"));
  EXPECT_TRUE(throws_parse_error(
      error_for("{'descr' '<f8', 'fortran_order': False, 'shape': (1,)}"), "expected ':'"));
  EXPECT_TRUE(throws_parse_error(error_for("{'descr': '<f8"), "unterminated string"));
  EXPECT_TRUE(throws_parse_error(error_for("{'descr': '<\\x66\\x38'}"),
                                 "escape sequences are not supported"));
  EXPECT_TRUE(throws_parse_error(error_for("{'descr': '<f8',, 'shape': (1,)}"),
                                 "expected a quoted key or '}'"));
  EXPECT_TRUE(
      throws_parse_error(error_for("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} x"),
                         "unexpected text after the closing '}'"));
  EXPECT_TRUE(
      throws_parse_error(error_for("['descr']"), "malformed header at byte 10: expected '{'"));
}

// ---- .npy writing ----

TEST_F(io_files, write_npy_matches_numpy_byte_for_byte) {
  write_npy(path("m.npy"), {0.5, 0.25, 0.25, 0.1, 0.2, 0.7}, {2, 3}, dtype::float64);
  EXPECT_EQ(read_bytes(path("m.npy")), kNumpyF8Matrix);
  write_npy(path("v.npy"), std::vector<float>{0.5f, 0.25f, 0.125f, 0.125f}, {4});
  EXPECT_EQ(read_bytes(path("v.npy")), kNumpyF4Vector);
  write_npy(path("i.npy"), {1, 2, 3, -4}, {2, 2}, dtype::int64);
  EXPECT_EQ(read_bytes(path("i.npy")), kNumpyI8Matrix);
}

TEST_F(io_files, write_npy_round_trips) {
  const std::vector<double> values{0.1, 1.0 / 3, 1e-300, -2.5, 0.0, 12345.678};
  for (const auto& shape : {std::vector<std::size_t>{6}, std::vector<std::size_t>{2, 3},
                            std::vector<std::size_t>{6, 1}}) {
    write_npy(path("d.npy"), values, shape, dtype::float64);
    const array d = read_npy(path("d.npy"));
    EXPECT_EQ(d.values, values);
    EXPECT_EQ(d.shape, shape);
    EXPECT_EQ(d.source, dtype::float64);
    EXPECT_EQ((fs::file_size(path("d.npy")) - values.size() * 8) % 64, 0u);

    write_npy(path("f.npy"), values, shape, dtype::float32);
    const array f = read_npy(path("f.npy"));
    ASSERT_EQ(f.values.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(f.values[i], static_cast<double>(static_cast<float>(values[i])));
    }
    EXPECT_EQ(f.shape, shape);
    EXPECT_EQ(f.source, dtype::float32);

    const std::vector<float> floats{0.1f, 0.2f, 0.3f, -0.0f, 1e-30f, 3.5f};
    write_npy(path("g.npy"), floats, shape);
    const array g = read_npy(path("g.npy"));
    EXPECT_EQ(g.values, std::vector<double>(floats.begin(), floats.end()));
    EXPECT_EQ(g.shape, shape);
    EXPECT_EQ(g.source, dtype::float32);
  }
}

TEST_F(io_files, write_npy_rejects_bad_arguments) {
  EXPECT_THROW(write_npy(path("x.npy"), {1, 2, 3}, {2, 2}, dtype::float64), shape_mismatch);
  EXPECT_THROW(write_npy(path("x.npy"), {1, 2}, {1, 1, 2}, dtype::float64), shape_mismatch);
  EXPECT_THROW(write_npy(path("x.npy"), std::vector<float>{1}, {}), shape_mismatch);
  EXPECT_THROW(write_npy(path("x.npy"), {1, 0.5}, {2}, dtype::int64), invalid_option);
  EXPECT_THROW(write_npy(path("x.npy"), {NAN}, {1}, dtype::int64), invalid_option);
  EXPECT_THROW(write_npy(path("x.npy"), {0x1p63}, {1}, dtype::int64), invalid_option);
  EXPECT_TRUE(
      throws_parse_error([&] { write_npy(path("no/such/dir/x.npy"), {1}, {1}, dtype::float64); },
                         "x.npy: cannot open for writing: No such file or directory"));
}

// ---- text ----

TEST(parse_text, single_line_is_a_vector) {
  const array a = parse_text("0.5,0.25,0.25\n", "p.csv");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{3}));
  EXPECT_EQ(a.values, (std::vector<double>{0.5, 0.25, 0.25}));
  EXPECT_EQ(a.source, dtype::float64);
  EXPECT_EQ(parse_text("  7  ", "p.txt").values, (std::vector<double>{7}));
}

TEST(parse_text, several_lines_are_a_matrix) {
  const array a = parse_text(
      "\xEF\xBB\xBF# probabilities\r\n"
      "0.5, 0.5\r\n"
      "\r\n"
      "  # another comment\n"
      "0.25\t0.75\n"
      "1;0\n"
      "+1e-1 ;  9E-1",
      "m.csv");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{4, 2}));
  EXPECT_EQ(a.values, (std::vector<double>{0.5, 0.5, 0.25, 0.75, 1, 0, 0.1, 0.9}));
  EXPECT_EQ(parse_text("1\n2\n", "c.txt").shape, (std::vector<std::size_t>{2, 1}));
}

TEST(parse_text, reads_nan_and_infinities) {
  const array a = parse_text("nan NaN inf -INF +Inf -infinity", "p.txt");
  ASSERT_EQ(a.values.size(), 6u);
  EXPECT_TRUE(std::isnan(a.values[0]));
  EXPECT_TRUE(std::isnan(a.values[1]));
  EXPECT_EQ(a.values[2], INFINITY);
  EXPECT_EQ(a.values[3], -INFINITY);
  EXPECT_EQ(a.values[4], INFINITY);
  EXPECT_EQ(a.values[5], -INFINITY);
}

TEST(parse_text, rejects_bad_numbers) {
  EXPECT_TRUE(throws_parse_error([] { parse_text("1,2\n3,4\n abc,5\n", "p.csv"); },
                                 "p.csv:3:2: 'abc' is not a number"));
  EXPECT_TRUE(throws_parse_error([] { parse_text("a,b\n1,2\n", "h.csv"); },
                                 "h.csv:1:1: 'a' is not a number"));
  EXPECT_TRUE(throws_parse_error([] { parse_text("1 2 0x10", "p.txt"); },
                                 "p.txt:1:5: '0x10' is not a number"));
  EXPECT_TRUE(
      throws_parse_error([] { parse_text("1 ++2", "p.txt"); }, "p.txt:1:3: '++2' is not a number"));
  EXPECT_TRUE(
      throws_parse_error([] { parse_text("+-2", "p.txt"); }, "p.txt:1:1: '+-2' is not a number"));
  EXPECT_TRUE(
      throws_parse_error([] { parse_text("+", "p.txt"); }, "p.txt:1:1: '+' is not a number"));
  EXPECT_TRUE(throws_parse_error([] { parse_text("1 # note", "p.txt"); },
                                 "p.txt:1:3: '#' is not a number"));
  EXPECT_TRUE(throws_parse_error([] { parse_text("1e999", "p.txt"); },
                                 "p.txt:1:1: '1e999' is out of range for a double"));
  EXPECT_TRUE(throws_parse_error([] { parse_text(std::string_view("1,\x01\xff", 4), "p.txt"); },
                                 "p.txt:1:3: '\\x01\\xff' is not a number"));
  EXPECT_TRUE(
      throws_parse_error([] { parse_text(std::string(100, '7') + "x", "p.txt"); },
                         "p.txt:1:1: '7777777777777777777777777777777777777777...' is not"));
}

TEST(parse_text, rejects_empty_fields) {
  EXPECT_TRUE(throws_parse_error([] { parse_text("1,,2", "p.csv"); }, "p.csv:1:3: empty field"));
  EXPECT_TRUE(
      throws_parse_error([] { parse_text("1;2\n3, ,4", "p.csv"); }, "p.csv:2:4: empty field"));
  EXPECT_TRUE(throws_parse_error([] { parse_text(",1", "p.csv"); }, "p.csv:1:1: empty field"));
  EXPECT_TRUE(throws_parse_error([] { parse_text("1,2,\n", "p.csv"); }, "p.csv:1:5: empty field"));
}

TEST(parse_text, rejects_ragged_rows) {
  EXPECT_TRUE(throws_parse_error([] { parse_text("1 2 3 4\n5 6 7\n", "data.csv"); },
                                 "data.csv:2: row has 3 values but row 1 has 4"));
  EXPECT_TRUE(throws_parse_error([] { parse_text("# c\n1,2\n\n3,4\n5\n", "data.csv"); },
                                 "data.csv:5: row has 1 values but row 1 has 2"));
}

TEST(parse_text, rejects_input_without_numbers) {
  for (const char* text : {"", "\n\n", "# only a comment\n", "\xEF\xBB\xBF", " \t\r\n"}) {
    EXPECT_TRUE(throws_parse_error([&] { parse_text(text, "p.csv"); }, "p.csv: no numbers found"))
        << text;
  }
}

// ---- files and read_array ----

TEST_F(io_files, reports_files_that_cannot_be_read) {
  EXPECT_TRUE(throws_parse_error([&] { read_text(path("missing.csv")); },
                                 "missing.csv: cannot open: No such file or directory"));
  EXPECT_TRUE(throws_parse_error([&] { read_npy(path("missing.npy")); },
                                 "missing.npy: cannot open: No such file or directory"));
  EXPECT_TRUE(
      throws_parse_error([&] { read_text(dir_.string()); }, ": cannot read: Is a directory"));
}

TEST_F(io_files, read_text_names_the_file) {
  write_bytes(path("p.csv"), "0.5,0.5\n0.25,x\n");
  EXPECT_TRUE(
      throws_parse_error([&] { read_text(path("p.csv")); }, "p.csv:2:6: 'x' is not a number"));
}

TEST_F(io_files, read_array_dispatches_on_the_spec) {
  write_bytes(path("m.npy"), kNumpyF8Matrix);
  EXPECT_EQ(read_array(path("m.npy")).shape, (std::vector<std::size_t>{2, 3}));
  write_bytes(path("m.bin"), kNumpyI4Vector);
  EXPECT_EQ(read_array(path("m.bin")).values, (std::vector<double>{3, -1, 7}));
  write_bytes(path("p.csv"), "0.5,0.5\n");
  EXPECT_EQ(read_array(path("p.csv")).values, (std::vector<double>{0.5, 0.5}));
  // A file whose name looks like a list is still a file.
  write_bytes(path("1"), "2 3\n");
  EXPECT_EQ(read_array(path("1")).values, (std::vector<double>{2, 3}));

  const array inline_list = read_array("0.5, 0.25;0.25");
  EXPECT_EQ(inline_list.values, (std::vector<double>{0.5, 0.25, 0.25}));
  EXPECT_EQ(inline_list.shape, (std::vector<std::size_t>{3}));
  EXPECT_EQ(read_array("1e-1,-2E+2, +3").values, (std::vector<double>{0.1, -200, 3}));
  EXPECT_EQ(read_array("NaN,INF,-inf").values.size(), 3u);

  EXPECT_TRUE(throws_parse_error([] { read_array("1,,2"); }, "argument:1:3: empty field"));
  EXPECT_TRUE(throws_parse_error([] { read_array("1.2.3"); }, "argument:1:1: '1.2.3' is not"));
  EXPECT_TRUE(throws_parse_error([] { read_array(""); }, "argument: no numbers found"));
  EXPECT_TRUE(throws_parse_error(
      [] { read_array("dta.csv"); },
      "dta.csv: cannot open: No such file or directory (nor is it a list of numbers)"));
  EXPECT_TRUE(
      throws_parse_error([] { read_array("e"); }, "e: cannot open: No such file or directory"));
  EXPECT_TRUE(throws_parse_error(
      [] { read_array("0.5,x"); },
      "0.5,x: cannot open: No such file or directory (nor is it a list of numbers)"));
  EXPECT_TRUE(throws_parse_error([&] { read_array(path("nope.NPY")); },
                                 "nope.NPY: cannot open: No such file or directory"));
}

TEST_F(io_files, read_array_reads_standard_input) {
  write_bytes(path("in.npy"), kNumpyF8Matrix);
  ASSERT_NE(std::freopen(path("in.npy").c_str(), "rb", stdin), nullptr);
  const array npy = read_array("-");
  EXPECT_EQ(npy.values, (std::vector<double>{0.5, 0.25, 0.25, 0.1, 0.2, 0.7}));
  EXPECT_EQ(npy.shape, (std::vector<std::size_t>{2, 3}));

  write_bytes(path("in.txt"), "1 2\n3 4\n5 x\n");
  ASSERT_NE(std::freopen(path("in.txt").c_str(), "rb", stdin), nullptr);
  EXPECT_TRUE(throws_parse_error([] { read_array("-"); }, "<stdin>:3:3: 'x' is not a number"));

  write_bytes(path("in.txt"), std::string(kNumpyF8Matrix.substr(0, 100)));
  ASSERT_NE(std::freopen(path("in.txt").c_str(), "rb", stdin), nullptr);
  EXPECT_TRUE(throws_parse_error([] { read_array("-"); }, "<stdin>: truncated: header length"));
}

// ---- robustness ----

TEST(robustness, every_truncation_parses_or_throws_parse_error) {
  for (const std::string_view npy :
       {kNumpyF8Matrix, kNumpyF4Vector, kNumpyI4Vector, kNumpyF8Version2, kNumpyF8Version3,
        kNumpyF8BigEndian, kNumpyF8Scalar}) {
    for (std::size_t n = 0; n <= npy.size(); ++n) {
      // A copy, so that reading past the end is caught by the address sanitizer.
      const std::string prefix(npy.substr(0, n));
      EXPECT_TRUE(returns_or_throws_parse_error([&] { parse_npy(prefix, "t.npy"); })) << n;
      EXPECT_TRUE(returns_or_throws_parse_error([&] { parse_text(prefix, "t.txt"); })) << n;
    }
    EXPECT_EQ(parse_npy(std::string(npy), "t.npy").values.empty(), false);
  }
  const std::string text = "\xEF\xBB\xBF# c\r\n0.5, +0.25;nan\r\n\n-inf\t1e-3 ,2\n";
  for (std::size_t n = 0; n <= text.size(); ++n) {
    const std::string prefix = text.substr(0, n);
    EXPECT_TRUE(returns_or_throws_parse_error([&] { parse_text(prefix, "t.txt"); })) << n;
  }
}

TEST(robustness, random_mutations_parse_or_throw_parse_error) {
  std::mt19937 rng(20240607);
  // Bytes that steer mutations into the header syntax and numbers.
  constexpr std::string_view kInteresting = "0123456789(),:'\"{} \n\r\t#;+-.eEnaifTF<>|=L\x93\xff";
  const std::vector<std::string_view> seeds{kNumpyF8Matrix, kNumpyF4Vector,
                                            kNumpyI8Matrix, kNumpyF8Version2,
                                            kNumpyF8Scalar, "0.5,0.25,0.25\n1,2,3\n# x\n"};
  for (int round = 0; round < 4000; ++round) {
    std::string input(seeds[rng() % seeds.size()]);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = input.empty() ? 0 : rng() % input.size();
      const char c =
          rng() % 2 ? kInteresting[rng() % kInteresting.size()] : static_cast<char>(rng() & 0xff);
      switch (rng() % 4) {
        case 0:
          if (!input.empty()) input[at] = c;
          break;
        case 1:
          input.insert(input.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        case 2:
          if (!input.empty()) input.erase(at, 1 + rng() % 8);
          break;
        default:
          input.resize(at);
      }
    }
    EXPECT_TRUE(returns_or_throws_parse_error([&] { parse_npy(input, "r.npy"); })) << round;
    EXPECT_TRUE(returns_or_throws_parse_error([&] { parse_text(input, "r.txt"); })) << round;
  }
  for (int round = 0; round < 1000; ++round) {
    std::string input(rng() % 200, '\0');
    for (char& c : input) c = static_cast<char>(rng() & 0xff);
    if (round % 2 == 0) input.insert(0, std::string("\x93NUMPY\x01\x00", 8));
    EXPECT_TRUE(returns_or_throws_parse_error([&] { parse_npy(input, "r.npy"); })) << round;
    EXPECT_TRUE(returns_or_throws_parse_error([&] { parse_text(input, "r.txt"); })) << round;
  }
}

}  // namespace
}  // namespace shannon::io
