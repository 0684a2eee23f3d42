// shannon._shannon: the C++ half of the Python package. It takes only C-contiguous
// float32/float64 arrays (noconvert: never a hidden copy) and releases the GIL while
// it computes; python/shannon/__init__.py converts, checks and reshapes the inputs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "shannon/shannon.h"

namespace py = pybind11;

namespace {

/// A C-contiguous array of exactly T; pybind11 never converts it (arguments are noconvert).
template <class T>
using carray = py::array_t<T, py::array::c_style>;

/// The elements of a C-contiguous array, read-only.
template <class T>
std::span<const T> span_of(const carray<T>& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}

/// The elements of a freshly allocated C-contiguous array, writable.
template <class T>
std::span<T> mutable_span_of(carray<T>& a) {
  return {a.mutable_data(), static_cast<std::size_t>(a.size())};
}

/// The base from a str ("bits", "e", "10", ...) or a float > 1; throws invalid_option otherwise.
shannon::log_base to_base(const py::object& base) {
  if (py::isinstance<py::str>(base)) return shannon::log_base::parse(base.cast<std::string>());
  if (py::isinstance<py::float_>(base) || py::isinstance<py::int_>(base)) {
    return shannon::log_base(base.cast<double>());
  }
  throw shannon::invalid_option(
      "base must be a number > 1 or one of 'bits', 'nats', "
      "'hartleys', 'e', got " +
      py::repr(base).cast<std::string>());
}

/// The options of a measure call; throws invalid_option for a bad base.
shannon::options to_options(const py::object& base, bool normalize, bool unchecked) {
  shannon::options opt;
  opt.base = to_base(base);
  opt.normalize = normalize;
  opt.unchecked = unchecked;
  return opt;
}

/// Throws shape_mismatch unless `a` has `ndim` dimensions (the Python layer guarantees it).
void require_ndim(const py::array& a, py::ssize_t ndim, const char* name) {
  if (a.ndim() != ndim) {
    throw shannon::shape_mismatch(std::string(name) + " must have " + std::to_string(ndim) +
                                  " dimension(s), got " + std::to_string(a.ndim()));
  }
}

/// The shape of an array as Python prints it: "(3, 4)", "(5,)".
std::string shape_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    s += (i ? ", " : "") + std::to_string(a.shape(i));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

/// A 2-D C-contiguous array as a matrix; throws shape_mismatch for any other rank.
template <class T>
shannon::matrix_view<T> matrix_of(const carray<T>& a, const char* name) {
  require_ndim(a, 2, name);
  return shannon::matrix_view<T>(span_of(a), static_cast<std::size_t>(a.shape(0)),
                                 static_cast<std::size_t>(a.shape(1)));
}

/// -log_b p element-wise into a new array of p's shape, GIL released.
template <class T>
carray<T> information_of(const carray<T>& p, const py::object& base) {
  shannon::options opt;
  opt.base = to_base(base);
  carray<T> out(std::vector<py::ssize_t>(p.shape(), p.shape() + p.ndim()));
  const auto in = span_of(p);
  const auto res = mutable_span_of(out);
  {
    py::gil_scoped_release release;
    shannon::information(in, res, opt);
  }
  return out;
}

/// Entropy of a 1-D array, widened to double, GIL released.
template <class T>
double entropy_1d(const carray<T>& p, const py::object& base, bool normalize, bool unchecked) {
  require_ndim(p, 1, "p");
  const auto opt = to_options(base, normalize, unchecked);
  const auto in = span_of(p);
  py::gil_scoped_release release;
  return static_cast<double>(shannon::entropy(in, opt));
}

/// Entropy of each row of a 2-D array into a new 1-D array, GIL released.
template <class T>
carray<T> entropy_rows(const carray<T>& p, const py::object& base, bool normalize, bool unchecked) {
  const auto opt = to_options(base, normalize, unchecked);
  const auto pm = matrix_of(p, "p");
  carray<T> out(static_cast<py::ssize_t>(pm.rows));
  const auto res = mutable_span_of(out);
  {
    py::gil_scoped_release release;
    shannon::entropy(pm, res, opt);
  }
  return out;
}

/// Binds the 1-D and row-wise forms of a measure of two distributions for float and double.
template <class T>
void def_pair_measure(py::module_& m, const char* name_1d, const char* name_rows,
                      double (*one)(std::span<const T>, std::span<const T>,
                                    const shannon::options&),
                      void (*rows)(shannon::matrix_view<T>, shannon::matrix_view<T>, std::span<T>,
                                   const shannon::options&)) {
  m.def(
      name_1d,
      [one](const carray<T>& p, const carray<T>& q, const py::object& base, bool normalize,
            bool unchecked) {
        require_ndim(p, 1, "p");
        require_ndim(q, 1, "q");
        const auto opt = to_options(base, normalize, unchecked);
        const auto ps = span_of(p);
        const auto qs = span_of(q);
        py::gil_scoped_release release;
        return one(ps, qs, opt);
      },
      py::arg("p").noconvert(), py::arg("q").noconvert(), py::arg("base"), py::arg("normalize"),
      py::arg("unchecked"));
  m.def(
      name_rows,
      [rows](const carray<T>& p, const carray<T>& q, const py::object& base, bool normalize,
             bool unchecked) {
        const auto opt = to_options(base, normalize, unchecked);
        const auto pm = matrix_of(p, "p");
        const auto qm = matrix_of(q, "q");
        carray<T> out(static_cast<py::ssize_t>(pm.rows));
        const auto res = mutable_span_of(out);
        {
          py::gil_scoped_release release;
          rows(pm, qm, res, opt);
        }
        return out;
      },
      py::arg("p").noconvert(), py::arg("q").noconvert(), py::arg("base"), py::arg("normalize"),
      py::arg("unchecked"));
}

/// The 1-D measures return double for both types (a float result widens exactly).
template <class T, T (*F)(std::span<const T>, std::span<const T>, const shannon::options&)>
double widen(std::span<const T> p, std::span<const T> q, const shannon::options& opt) {
  return static_cast<double>(F(p, q, opt));
}

/// Binds the measures for one element type; the float and double overloads share names.
template <class T>
void def_measures(py::module_& m) {
  m.def("information", &information_of<T>, py::arg("p").noconvert(), py::arg("base"));
  m.def("entropy_1d", &entropy_1d<T>, py::arg("p").noconvert(), py::arg("base"),
        py::arg("normalize"), py::arg("unchecked"));
  m.def("entropy_rows", &entropy_rows<T>, py::arg("p").noconvert(), py::arg("base"),
        py::arg("normalize"), py::arg("unchecked"));
  def_pair_measure<T>(
      m, "cross_entropy_1d", "cross_entropy_rows",
      &widen<T, static_cast<T (*)(std::span<const T>, std::span<const T>, const shannon::options&)>(
                    &shannon::cross_entropy)>,
      static_cast<void (*)(shannon::matrix_view<T>, shannon::matrix_view<T>, std::span<T>,
                           const shannon::options&)>(&shannon::cross_entropy));
  def_pair_measure<T>(
      m, "kl_divergence_1d", "kl_divergence_rows",
      &widen<T, static_cast<T (*)(std::span<const T>, std::span<const T>, const shannon::options&)>(
                    &shannon::kl_divergence)>,
      static_cast<void (*)(shannon::matrix_view<T>, shannon::matrix_view<T>, std::span<T>,
                           const shannon::options&)>(&shannon::kl_divergence));
}

// ---- byte entropy ------------------------------------------------------------------

/// Calls f with the bytes of a buffer of single bytes, 1-D and contiguous (the Python side
/// casts any bytes-like object to one), the GIL released.
template <class F>
auto with_bytes(const py::buffer& data, F&& f) {
  const py::buffer_info info = data.request();
  if (info.itemsize != 1 || info.ndim != 1 || (info.size > 1 && info.strides[0] != 1)) {
    throw py::value_error("data must be a contiguous 1-D buffer of single bytes");
  }
  const std::span<const std::byte> bytes(static_cast<const std::byte*>(info.ptr),
                                         static_cast<std::size_t>(info.size));
  py::gil_scoped_release release;
  return f(bytes);
}

void def_byte_entropy(py::module_& m) {
  m.def(
      "byte_counts",
      [](const py::buffer& data) {
        const shannon::byte_histogram counts =
            with_bytes(data, [](std::span<const std::byte> b) { return shannon::byte_counts(b); });
        py::array_t<std::uint64_t> out(static_cast<py::ssize_t>(counts.size()));
        std::copy(counts.begin(), counts.end(), out.mutable_data());
        return out;
      },
      py::arg("data"));
  m.def(
      "byte_entropy",
      [](const py::buffer& data, const py::object& base) {
        const shannon::log_base b = to_base(base);
        return with_bytes(
            data, [b](std::span<const std::byte> d) { return shannon::byte_entropy(d, b); });
      },
      py::arg("data"), py::arg("base"));
}

// ---- memory for returned gradients ----------------------------------------------------

/// The block of the last large gradient that Python freed, kept for the next gradient of
/// the same size: a training loop that asks for a fresh gradient at every step then writes
/// pages that are already mapped, instead of faulting in and zeroing new ones (for a
/// 512 MB gradient that costs about as much as the loss itself). One block at most;
/// shannon.release_memory() frees it. The GIL guards it.
class gradient_pool {
 public:
  static constexpr std::size_t kMinBytes = std::size_t{1} << 20;
  static constexpr std::size_t kAlign = std::size_t{1} << 21;  // a transparent huge page

  static gradient_pool& get() {
    // Never destroyed: arrays may outlive the module's static objects at exit.
    static auto* pool = new gradient_pool;
    return *pool;
  }

  void* take(std::size_t bytes) {
    if (block_ != nullptr && bytes_ == bytes) {
      void* block = block_;
      block_ = nullptr;
      bytes_ = 0;
      return block;
    }
    const std::size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    void* block = std::aligned_alloc(kAlign, rounded);
    if (block == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(block, rounded, MADV_HUGEPAGE);  // as NumPy does for large arrays
#endif
    return block;
  }
  /// Keeps the newest block; the one kept before is freed.
  void give(void* block, std::size_t bytes) {
    release();
    block_ = block;
    bytes_ = bytes;
  }
  void release() {
    std::free(block_);
    block_ = nullptr;
    bytes_ = 0;
  }

 private:
  void* block_ = nullptr;
  std::size_t bytes_ = 0;
};

/// A C-contiguous array of the given shape for a gradient: from gradient_pool when large.
template <class T>
carray<T> gradient_array(const std::vector<py::ssize_t>& shape) {
  std::size_t count = 1;
  for (const py::ssize_t n : shape) count *= static_cast<std::size_t>(n);
  const std::size_t bytes = count * sizeof(T);
  if (bytes < gradient_pool::kMinBytes) return carray<T>(shape);
  struct held {
    void* block;
    std::size_t bytes;
  };
  auto* h = new held{gradient_pool::get().take(bytes), bytes};
  const py::capsule owner(h, [](void* p) {
    auto* block = static_cast<held*>(p);
    gradient_pool::get().give(block->block, block->bytes);
    delete block;
  });
  return carray<T>(shape, static_cast<T*>(h->block), owner);
}

// ---- losses ----------------------------------------------------------------------------

/// A C-contiguous int64 array of class indices; never converted.
using index_array = py::array_t<std::int64_t, py::array::c_style>;

/// The arrays a loss call fills: the loss (1 value or one per row/element) and the
/// gradient in the input's shape (empty unless asked for).
template <class T>
struct loss_buffers {
  carray<T> loss;
  carray<T> grad;

  loss_buffers(py::ssize_t n_loss, const carray<T>& input, bool want_grad)
      : loss(n_loss),
        grad(want_grad ? gradient_array<T>(
                             std::vector<py::ssize_t>(input.shape(), input.shape() + input.ndim()))
                       : carray<T>(std::vector<py::ssize_t>{0})) {}

  [[nodiscard]] shannon::loss_outputs<T> outputs() {
    return {mutable_span_of(loss), mutable_span_of(grad), {}};
  }
  [[nodiscard]] py::tuple result(bool want_grad) const {
    return py::make_tuple(loss, want_grad ? py::object(grad) : py::object(py::none()));
  }
};

/// The options of cross_entropy_loss; throws invalid_option for a bad base.
template <class T>
shannon::cross_entropy_options<T> ce_options(const carray<T>& weight, std::int64_t ignore_index,
                                             shannon::reduction reduce, double label_smoothing,
                                             double z_loss, double softcap,
                                             const py::object& base) {
  shannon::cross_entropy_options<T> opt;
  opt.weight = span_of(weight);
  opt.ignore_index = ignore_index;
  opt.reduce = reduce;
  opt.label_smoothing = label_smoothing;
  opt.z_loss = z_loss;
  opt.softcap = softcap;
  opt.base = to_base(base);
  return opt;
}

/// Cross entropy of logits [N, C] against class indices [N] (Target = index_array) or
/// probabilities [N, C] (Target = carray<T>); returns (loss, grad or None).
///
/// With grad_out (an array of the logits' shape, written directly, never copied) it returns
/// (loss, grad_out): when grad_out is the logits' own buffer, cross_entropy_loss_in_place
/// writes the gradient over the logits; otherwise the gradient goes into grad_out, which
/// the C++ core refuses when it partly overlaps the logits (or the target, the weights).
template <class T, class Target>
py::tuple cross_entropy_loss_of(const carray<T>& logits, const Target& target,
                                const carray<T>& weight, std::int64_t ignore_index,
                                const std::string& reduction, double label_smoothing, double z_loss,
                                double softcap, const py::object& base, bool return_grad,
                                std::optional<carray<T>> grad_out) {
  const auto reduce = shannon::parse_reduction(reduction);
  const auto opt = ce_options(weight, ignore_index, reduce, label_smoothing, z_loss, softcap, base);
  const auto lm = matrix_of(logits, "logits");
  const py::ssize_t n_loss = reduce == shannon::reduction::none ? logits.shape(0) : 1;
  // The target as the C++ overloads take it: class indices [N] or probabilities [N, C].
  const auto tv = [&] {
    if constexpr (std::is_same_v<Target, index_array>) {
      require_ndim(target, 1, "target");
      return std::span<const std::int64_t>(target.data(), static_cast<std::size_t>(target.size()));
    } else {
      return matrix_of(target, "target");
    }
  }();
  if (!grad_out) {
    loss_buffers<T> buf(n_loss, logits, return_grad);
    {
      py::gil_scoped_release release;
      shannon::cross_entropy_loss(lm, tv, opt, buf.outputs());
    }
    return buf.result(return_grad);
  }

  carray<T>& grad = *grad_out;
  if (!return_grad) throw shannon::invalid_option("grad_out implies return_grad=True");
  require_ndim(grad, 2, "grad_out");
  if (grad.shape(0) != logits.shape(0) || grad.shape(1) != logits.shape(1)) {
    throw shannon::shape_mismatch("grad_out has shape " + shape_text(grad) +
                                  " but logits have shape " + shape_text(logits));
  }
  if (!grad.writeable()) throw shannon::invalid_option("grad_out is read-only");
  carray<T> loss(n_loss);
  const auto ls = mutable_span_of(loss);
  const auto gs = mutable_span_of(grad);
  {
    py::gil_scoped_release release;
    if (gs.data() == logits.data()) {  // the logits' own buffer (same shape): in place
      shannon::cross_entropy_loss_in_place(gs, lm.rows, lm.cols, tv, opt, ls);
    } else {
      shannon::cross_entropy_loss(lm, tv, opt, {ls, gs, {}});
    }
  }
  return py::make_tuple(loss, grad);
}

/// PyTorch's kl_div of input [rows, cols] (log q) and target (p, or log p); (loss, grad).
template <class T>
py::tuple kl_div_loss_of(const carray<T>& input, const carray<T>& target,
                         const std::string& reduction, bool log_target, bool return_grad) {
  shannon::kl_div_options opt;
  opt.reduce = shannon::parse_reduction(reduction);
  opt.log_target = log_target;
  const auto im = matrix_of(input, "input");
  const auto tm = matrix_of(target, "target");
  loss_buffers<T> buf(opt.reduce == shannon::reduction::none ? input.size() : 1, input,
                      return_grad);
  {
    py::gil_scoped_release release;
    shannon::kl_div_loss(im, tm, opt, buf.outputs());
  }
  return buf.result(return_grad);
}

/// PyTorch's binary_cross_entropy_with_logits of logits [rows, cols]; (loss, grad).
template <class T>
py::tuple bce_with_logits_of(const carray<T>& logits, const carray<T>& target,
                             const carray<T>& weight, const carray<T>& pos_weight,
                             const std::string& reduction, bool return_grad) {
  shannon::bce_options<T> opt;
  opt.weight = span_of(weight);
  opt.pos_weight = span_of(pos_weight);
  opt.reduce = shannon::parse_reduction(reduction);
  const auto lm = matrix_of(logits, "logits");
  const auto tm = matrix_of(target, "target");
  loss_buffers<T> buf(opt.reduce == shannon::reduction::none ? logits.size() : 1, logits,
                      return_grad);
  {
    py::gil_scoped_release release;
    shannon::binary_cross_entropy_with_logits(lm, tm, opt, buf.outputs());
  }
  return buf.result(return_grad);
}

/// Binds the losses for one element type; the float and double overloads share names.
template <class T>
void def_losses(py::module_& m) {
  m.def("cross_entropy_loss", &cross_entropy_loss_of<T, index_array>, py::arg("logits").noconvert(),
        py::arg("target").noconvert(), py::arg("weight").noconvert(), py::arg("ignore_index"),
        py::arg("reduction"), py::arg("label_smoothing"), py::arg("z_loss"), py::arg("softcap"),
        py::arg("base"), py::arg("return_grad"), py::arg("grad_out").noconvert() = py::none());
  m.def("cross_entropy_loss_probs", &cross_entropy_loss_of<T, carray<T>>,
        py::arg("logits").noconvert(), py::arg("target").noconvert(), py::arg("weight").noconvert(),
        py::arg("ignore_index"), py::arg("reduction"), py::arg("label_smoothing"),
        py::arg("z_loss"), py::arg("softcap"), py::arg("base"), py::arg("return_grad"),
        py::arg("grad_out").noconvert() = py::none());
  m.def("kl_div_loss", &kl_div_loss_of<T>, py::arg("input").noconvert(),
        py::arg("target").noconvert(), py::arg("reduction"), py::arg("log_target"),
        py::arg("return_grad"));
  m.def("binary_cross_entropy_with_logits", &bce_with_logits_of<T>, py::arg("logits").noconvert(),
        py::arg("target").noconvert(), py::arg("weight").noconvert(),
        py::arg("pos_weight").noconvert(), py::arg("reduction"), py::arg("return_grad"));
}

}  // namespace

PYBIND11_MODULE(_shannon, m) {
  m.doc() = "C++ core of shannon; use the functions of the shannon package instead.";

  // Every shannon::error (invalid_distribution, shape_mismatch, invalid_option,
  // parse_error) reaches Python as a ValueError with the same message.
  // pybind11 takes the translator as void (*)(std::exception_ptr): by value.
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const shannon::error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def("version", [] { return std::string(shannon::version()); });
  m.def("active_isa", &shannon::active_isa);
  m.def("available_isas", &shannon::available_isas);
  m.def(
      "force_isa", [](const std::string& isa) { shannon::force_isa(isa); }, py::arg("isa"));
  m.def(
      "unit_name", [](const py::object& base) { return to_base(base).unit_name(); },
      py::arg("base"));

  m.def("release_memory", [] { gradient_pool::get().release(); });

  def_measures<double>(m);
  def_measures<float>(m);
  def_byte_entropy(m);
  def_losses<double>(m);
  def_losses<float>(m);
}
