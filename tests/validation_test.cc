// Bad input: each error is a shannon::error whose message names the problem,
// the index and the value.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "shannon/shannon.h"

namespace shannon {
namespace {

template <class E, class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected one containing: " << needle;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
    EXPECT_NE(dynamic_cast<const error*>(&e), nullptr);
    EXPECT_NE(dynamic_cast<const std::invalid_argument*>(&e), nullptr);
  }
}

const std::vector<double> kGood{0.5, 0.25, 0.25};

TEST(validation, names_negative_values_with_index) {
  expect_error<invalid_distribution>(
      [] {
        entropy(std::vector<double>{0.6, 0.2, 0.3, -0.1});
      },
      "p[3] = -0.1 is negative");
  expect_error<invalid_distribution>(
      [] {
        cross_entropy(kGood, std::vector<double>{0.5, -0.5, 1.0});
      },
      "q[1] = -0.5 is negative");
  expect_error<invalid_distribution>(
      [] {
        entropy(std::vector<float>{0.5F, -0.25F, 0.75F});
      },
      "p[1] = -0.25 is negative");
}

TEST(validation, names_nan_and_infinity) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  expect_error<invalid_distribution>(
      [&] {
        entropy(std::vector<double>{0.5, nan, 0.5});
      },
      "p[1] = nan is not a number");
  expect_error<invalid_distribution>(
      [&] {
        kl_divergence(kGood, std::vector<double>{inf, 0, 0});
      },
      "q[0] = inf is not finite");
}

TEST(validation, requires_a_sum_of_one_within_the_tolerance) {
  expect_error<invalid_distribution>(
      [] {
        entropy(std::vector<double>{0.33, 0.33, 0.33});
      },
      "p sums to 0.99, not 1");
  expect_error<invalid_distribution>(
      [] {
        entropy(std::vector<double>{0.33, 0.33, 0.33});
      },
      "normalize divides by the sum");
  // Within tolerance: the usual rounding of a normalized vector.
  EXPECT_NO_THROW(entropy(std::vector<double>{0.1, 0.2, 0.7}));
  EXPECT_NO_THROW(entropy(std::vector<double>{1.0 + 1e-15, 0.0}));
  EXPECT_THROW(entropy(std::vector<double>{1.0 + 1e-12, 0.0}), invalid_distribution);
  EXPECT_NO_THROW(entropy(std::vector<float>{0.1F, 0.2F, 0.7F}));
  EXPECT_EQ(sum_tolerance<double>(4), 32 * 2.220446049250313e-16 * 2);
}

TEST(validation, rejects_empty_and_mismatched_inputs) {
  expect_error<invalid_distribution>([] { entropy(std::vector<double>{}); },
                                     "p is empty: a probability vector needs at least one element");
  expect_error<shape_mismatch>(
      [] {
        kl_divergence(kGood, std::vector<double>{0.5, 0.5});
      },
      "p has 3 elements but q has 2");
  expect_error<shape_mismatch>(
      [] {
        const std::vector<double> v(6, 1.0 / 3);
        matrix_view<double>(v, 4, 2);
      },
      "matrix of 4 x 2 needs 8 values, got 6");
  const std::vector<double> a(6, 1.0 / 3);
  const std::vector<double> b(6, 0.5);
  expect_error<shape_mismatch>(
      [&] { kl_divergence(matrix_view<double>(a, 2, 3), matrix_view<double>(b, 3, 2)); },
      "p is 2 x 3 but q is 3 x 2");
}

TEST(validation, names_the_row_of_a_matrix) {
  const std::vector<double> m{0.5, 0.5, 0.25, 0.75, 0.5, -0.5};
  expect_error<invalid_distribution>([&] { entropy(matrix_view<double>(m, 3, 2)); },
                                     "p[2][1] = -0.5 is negative");
  std::vector<double> big(4000 * 8, 0.125);
  big[1234 * 8 + 5] = 0.2;
  big[3000 * 8] = -1;
  expect_error<invalid_distribution>([&] { entropy(matrix_view<double>(big, 4000, 8)); },
                                     "p[1234] sums to 1.075, not 1");
}

TEST(validation, rejects_bad_bases) {
  expect_error<invalid_option>([] { log_base(1.0); }, "base = 1 is not a valid logarithm base");
  expect_error<invalid_option>([] { log_base(std::nan("")); }, "it must be a finite number > 1");
  expect_error<invalid_option>([] { log_base(0.5); }, "base = 0.5");
  expect_error<invalid_option>([] { log_base::parse("twelve"); },
                               "base 'twelve' is not a number > 1 or one of bits, nats, hartleys");
  EXPECT_EQ(log_base::parse("nats"), nats);
  EXPECT_EQ(log_base::parse("e"), nats);
  EXPECT_EQ(log_base::parse("hartleys"), hartleys);
  EXPECT_EQ(log_base::parse("2"), bits);
  EXPECT_EQ(log_base::parse("3.5").value(), 3.5);
  EXPECT_EQ(log_base(10.0).unit_name(), "hartleys");
  EXPECT_EQ(log_base(3.0).unit_name(), "base-3 units");
}

TEST(validation, information_wants_probabilities) {
  expect_error<invalid_distribution>([] { information(1.5); }, "p = 1.5 is not a probability");
  expect_error<invalid_distribution>(
      [] {
        information(std::vector<double>{0.5, 1.5});
      },
      "p[1] = 1.5 is greater than 1");
  // Probabilities of separate events need not sum to 1.
  EXPECT_EQ(information(std::vector<double>{0.5, 0.5, 0.5}).size(), 3U);
}

TEST(validation, normalize_accepts_counts_but_not_negatives_or_zero_sums) {
  EXPECT_EQ(entropy(std::vector<double>{1, 1, 2}, {.normalize = true}), 1.5);
  expect_error<invalid_distribution>(
      [] {
        entropy(std::vector<double>{1, -1, 2}, {.normalize = true});
      },
      "p[1] = -1 is negative");
  expect_error<invalid_distribution>(
      [] {
        entropy(std::vector<double>{0, 0}, {.normalize = true});
      },
      "p sums to 0: it cannot be normalized");
}

TEST(validation, unchecked_skips_the_checks) {
  EXPECT_NO_THROW(entropy(std::vector<double>{0.3, 0.3}, {.unchecked = true}));
  EXPECT_DOUBLE_EQ(entropy(std::vector<double>{0.5, 0.5, 0.5}, {.unchecked = true}), 1.5);
}

TEST(validation, loss_wants_a_class_in_range) {
  expect_error<invalid_option>([] { cross_entropy_loss(kGood, 3); },
                               "target class 3 is out of range for 3 classes");
  expect_error<invalid_distribution>(
      [] {
        cross_entropy_loss(std::vector<double>{0.2, 0.2}, 0);
      },
      "q sums to 0.4, not 1");
}

}  // namespace
}  // namespace shannon
