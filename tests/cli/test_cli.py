"""End-to-end tests of the shannon command-line tool (binary from $SHANNON_CLI)."""

import json
import math
import os
import pathlib
import re
import subprocess

import numpy as np
import pytest
import scipy.stats

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("SHANNON_CLI", str(ROOT / "build" / "bin" / "shannon"))


def run(*args, stdin=None, env=None):
    """Runs the CLI (with `env` added to the environment) and returns the completed process."""
    return subprocess.run(
        [CLI, *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env=None if env is None else {**os.environ, **env},
    )


def ok(*args, stdin=None):
    """Runs the CLI, expects exit 0 and returns stdout."""
    proc = run(*args, stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def json_of(*args, stdin=None):
    """Runs the CLI with --json and returns the single parsed document."""
    return json.loads(ok(*args, "--json", stdin=stdin))


def data_error(*args, stdin=None):
    """Runs the CLI, expects exit 1 with an error on stderr, and returns stderr."""
    proc = run(*args, stdin=stdin)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.startswith("shannon: error: ")
    return proc.stderr


def usage_error(*args, env=None):
    """Runs the CLI, expects exit 2 and returns stderr."""
    proc = run(*args, env=env)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr
    return proc.stderr


def kl_bits(p, q):
    return sum(pi * math.log2(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def entropy_bits(p):
    return -sum(pi * math.log2(pi) for pi in p if pi > 0)


def value_of(text):
    """The number of a one-line human result such as 'H(p) = 1.5 bits'."""
    return float(re.search(r"= (\S+) [^=]+$", text.strip().splitlines()[-1]).group(1))


@pytest.fixture()
def files(tmp_path):
    np.save(tmp_path / "p2.npy", np.array([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0]]))
    np.save(tmp_path / "q2.npy", np.array([[0.25, 0.75], [0.5, 0.5], [0.5, 0.5]]))
    np.save(tmp_path / "p32.npy", np.array([0.9, 0.1], dtype=np.float32))
    np.save(tmp_path / "q32.npy", np.array([0.5, 0.5], dtype=np.float32))
    np.save(tmp_path / "p64.npy", np.array([0.5, 0.25, 0.25]))
    (tmp_path / "p.csv").write_text("0.5,0.5\n0.25,0.75\n")
    (tmp_path / "q.csv").write_text("0.25 0.75\n0.5 0.5\n")
    (tmp_path / "bad.csv").write_text("0.5,0.5\n0.25,oops\n")
    good = (tmp_path / "p2.npy").read_bytes()
    (tmp_path / "truncated.npy").write_bytes(good[:-5])
    return tmp_path


# ---- values on hand-checkable inputs ------------------------------------------


def test_entropy_value():
    assert ok("entropy", "0.5,0.25,0.25").strip() == "H(p) = 1.5 bits"


def test_information_is_element_wise():
    assert ok("information", "0.5,0.25,0.25").strip() == "I(p) = [1, 2, 2] bits"
    doc = json_of("information", "0.5,0.25,0,1")
    assert doc["measure"] == "information"
    assert doc["values"] == [1, 2, "inf", 0]


def test_cross_entropy_value():
    p, q = [0.5, 0.5], [0.25, 0.75]
    expected = -sum(pi * math.log2(qi) for pi, qi in zip(p, q))
    out = ok("cross-entropy", "0.5,0.5", "0.25,0.75")
    assert out.startswith("H(p,q) = ") and out.strip().endswith(" bits")
    assert value_of(out) == pytest.approx(expected, rel=1e-14)


def test_kl_value():
    expected = kl_bits([0.5, 0.5], [0.25, 0.75])
    out = ok("kl", "0.5,0.5", "0.25,0.75")
    assert out.startswith("D(p||q) = ")
    assert value_of(out) == pytest.approx(expected, rel=1e-14)
    assert value_of(out) == pytest.approx(0.2075187496394219, rel=1e-15)


def test_kl_of_equal_distributions_is_zero():
    assert value_of(ok("kl", "0.2,0.3,0.5", "0.2,0.3,0.5")) == 0.0


def test_loss_is_minus_log_of_true_class():
    out = ok("loss", "0.25,0.5,0.25", "--target", "1")
    assert value_of(out) == 1.0
    assert "bits" in out
    doc = json_of("loss", "0.1,0.2,0.7", "--target", "2")
    assert doc["measure"] == "cross_entropy_loss"
    assert doc["value"] == pytest.approx(-math.log2(0.7), rel=1e-15)
    assert doc["target"] == 2


def test_loss_of_zero_probability_is_inf():
    assert json_of("loss", "0,1", "--target", "0")["value"] == "inf"


def test_loss_per_row(files):
    doc = json_of("loss", files / "p2.npy", "--target", "0")
    assert doc["values"] == pytest.approx([1.0, 2.0, 0.0])


# ---- options --------------------------------------------------------------------


@pytest.mark.parametrize(
    "base, unit, log",
    [
        ("bits", "bits", math.log2),
        ("2", "bits", math.log2),
        ("nats", "nats", math.log),
        ("e", "nats", math.log),
        ("hartleys", "hartleys", math.log10),
        ("10", "hartleys", math.log10),
        ("3", None, lambda x: math.log(x) / math.log(3)),
    ],
)
def test_base(base, unit, log):
    p = [0.5, 0.25, 0.25]
    expected = -sum(pi * log(pi) for pi in p)
    out = ok("entropy", "0.5,0.25,0.25", "--base", base)
    assert value_of(out) == pytest.approx(expected, rel=1e-14)
    if unit:
        assert out.strip().endswith(unit)
    doc = json_of("entropy", "0.5,0.25,0.25", "--base", base)
    assert doc["value"] == pytest.approx(expected, rel=1e-14)
    if unit:
        assert doc["unit"] == unit


def test_json_base_values():
    assert json_of("entropy", "0.5,0.5")["base"] == 2
    assert json_of("entropy", "0.5,0.5", "--base", "nats")["base"] == 2.718281828459045
    assert json_of("entropy", "0.5,0.5", "--base", "hartleys")["base"] == 10


def test_normalize():
    assert value_of(ok("entropy", "1,2,1", "--normalize")) == 1.5
    assert value_of(ok("kl", "2,2", "1,3", "--normalize")) == pytest.approx(
        kl_bits([0.5, 0.5], [0.25, 0.75]), rel=1e-14
    )


def test_json_documented_keys():
    doc = json_of("entropy", "0.5,0.25,0.25")
    assert doc == {**doc, "measure": "entropy", "value": 1.5, "unit": "bits", "base": 2}
    for command, measure in [("cross-entropy", "cross_entropy"), ("kl", "kl_divergence")]:
        doc = json_of(command, "0.5,0.5", "0.25,0.75")
        assert doc["measure"] == measure
        assert {"value", "unit", "base"} <= doc.keys()


def test_json_infinity_is_a_string():
    assert json_of("kl", "1,0", "0,1")["value"] == "inf"
    assert json_of("cross-entropy", "1,0", "0,1")["value"] == "inf"
    assert ok("kl", "1,0", "0,1").strip() == "D(p||q) = inf bits"


# ---- inputs ---------------------------------------------------------------------


def test_2d_npy_gives_one_value_per_row(files):
    doc = json_of("entropy", files / "p2.npy")
    assert doc["values"] == pytest.approx([1.0, entropy_bits([0.25, 0.75]), 0.0])
    doc = json_of("kl", files / "p2.npy", files / "q2.npy")
    assert doc["values"] == pytest.approx(
        [kl_bits([0.5, 0.5], [0.25, 0.75]), kl_bits([0.25, 0.75], [0.5, 0.5]), 1.0]
    )
    assert "value" not in doc


def test_multi_line_csv_gives_one_value_per_row(files):
    doc = json_of("cross-entropy", files / "p.csv", files / "q.csv")
    assert doc["values"] == pytest.approx([
        -(0.5 * math.log2(0.25) + 0.5 * math.log2(0.75)),
        -(0.25 * math.log2(0.5) + 0.75 * math.log2(0.5)),
    ])
    assert ok("entropy", files / "p.csv").startswith("H(p) = [1, ")


def test_float32_npy(files):
    doc = json_of("entropy", files / "p32.npy")
    assert doc["dtype"] == "float32"
    assert doc["value"] == pytest.approx(entropy_bits([0.9, 0.1]), rel=1e-6)
    doc = json_of("kl", files / "p32.npy", files / "q32.npy")
    assert doc["dtype"] == "float32"
    assert doc["value"] == pytest.approx(kl_bits([0.9, 0.1], [0.5, 0.5]), rel=1e-6)


def test_float64_npy(files):
    doc = json_of("entropy", files / "p64.npy")
    assert doc["dtype"] == "float64"
    assert doc["value"] == 1.5


def test_stdin():
    assert value_of(ok("entropy", "-", stdin="0.5 0.25 0.25\n")) == 1.5
    assert value_of(ok("kl", "0.5,0.5", "-", stdin="0.25,0.75")) == pytest.approx(
        kl_bits([0.5, 0.5], [0.25, 0.75]), rel=1e-14
    )


# ---- exit codes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["entropy"],
        ["entropy", "0.5,0.5", "--bogus"],
        ["kl", "0.5,0.5"],
        ["entropy", "0.5,0.5", "--base", "potato"],
        ["entropy", "0.5,0.5", "--base", "1"],
        ["entropy", "0.5,0.5", "--base"],
        ["loss", "0.5,0.5"],
        ["loss", "0.5,0.5", "--target", "first"],
        ["kl", "-", "-"],
    ],
)
def test_usage_errors_exit_2(args):
    usage_error(*args)


def test_negative_value_after_double_dash():
    err = data_error("entropy", "--", "-0.1,1.1")
    assert "p[0]" in err and "negative" in err and "-0.1" in err


def test_negative_value_without_double_dash():
    err = data_error("entropy", "-0.1,1.1")
    assert "p[0]" in err and "negative" in err
    err = data_error("entropy", "-.1,1.1")
    assert "p[0]" in err and "negative" in err
    err = data_error("kl", "0.5,0.5", "0.5,-0.5")
    assert "q[1]" in err and "negative" in err


def test_not_summing_to_one():
    err = data_error("entropy", "0.5,0.6")
    assert "sum" in err and "1.1" in err


def test_length_mismatch():
    err = data_error("kl", "0.5,0.5", "0.2,0.3,0.5")
    assert "2" in err and "3" in err


def test_shape_mismatch(files):
    err = data_error("kl", files / "p2.npy", files / "q.csv")
    assert "3" in err and "2" in err


def test_malformed_csv_names_file_and_line(files):
    err = data_error("entropy", files / "bad.csv")
    assert "bad.csv" in err
    assert re.search(r"(:2:|line 2\b)", err), err
    assert "oops" in err


def test_truncated_npy(files):
    err = data_error("entropy", files / "truncated.npy")
    assert "truncated.npy" in err and "truncated" in err.split("truncated.npy", 1)[1]


def test_missing_file(tmp_path):
    err = data_error("entropy", tmp_path / "nowhere.npy")
    assert "nowhere.npy" in err
    err = data_error("entropy", tmp_path / "nowhere.csv")
    assert "nowhere.csv" in err


def test_class_out_of_range():
    err = data_error("loss", "0.5,0.5", "--target", "2")
    assert "2" in err


# ---- version, help, explain, demo ---------------------------------------------------


def test_version():
    out = ok("--version").strip()
    assert re.fullmatch(r"shannon \d+\.\d+\.\d+ \(simd: [a-z0-9]+\)", out), out


def run_on(isa, *args):
    """Runs the CLI with SHANNON_FORCE_ISA=isa and returns the completed process."""
    return run(*args, env={"SHANNON_FORCE_ISA": isa})


def available_isas():
    """The targets the CLI offers, from its answer to an unknown one."""
    err = usage_error("--version", env={"SHANNON_FORCE_ISA": "no-such-isa"})
    return err.strip().split("available: ")[1].split(", ")


def test_force_isa_names_the_active_target_and_keeps_results(tmp_path):
    isas = available_isas()
    assert "scalar" in isas
    rng = np.random.default_rng(5)
    p = rng.random(100_003)
    q = rng.random(100_003)
    np.save(tmp_path / "p.npy", p / p.sum())
    np.save(tmp_path / "q.npy", q / q.sum())
    values = {}
    for isa in isas:
        proc = run_on(isa, "--version")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith(f"(simd: {isa})")
        proc = run_on(isa, "kl", tmp_path / "p.npy", tmp_path / "q.npy", "--json")
        assert proc.returncode == 0, proc.stderr
        values[isa] = json.loads(proc.stdout)["value"]
    reference = values["scalar"]
    for isa, value in values.items():
        assert value == pytest.approx(reference, rel=1e-12), isa


def test_force_isa_unknown_is_a_usage_error():
    for args in (["--version"], ["entropy", "0.5,0.5"]):
        proc = run_on("avx9000", *args)
        assert proc.returncode == 2, (proc.returncode, proc.stderr)
        assert proc.stdout == ""
        assert proc.stderr.startswith(
            "shannon: usage error: SHANNON_FORCE_ISA = 'avx9000' is not available here"
        )
        assert "available: " in proc.stderr and "scalar" in proc.stderr


def test_help():
    out = ok("--help")
    for command in ["information", "entropy", "cross-entropy", "kl", "loss", "explain", "demo"]:
        assert command in out
    out = ok("entropy", "--help")
    assert "--base" in out and "--normalize" in out and "--json" in out and ".npy" in out


def test_explain():
    out = ok("explain", "0.5,0.5", "0.25,0.75")
    assert "I_p [bits]" in out and "p_i (I_q - I_p)" in out
    assert "0.415037" in out
    assert "Gibbs" in out and "holds" in out
    assert "not symmetric" in out
    assert "0.2075187496394219" in out
    assert "0.1887218755408672" in out


def test_explain_json():
    doc = json_of("explain", "0.5,0.5,0", "0.25,0.5,0.25")
    assert doc["measure"] == "explain" and doc["unit"] == "bits"
    assert len(doc["rows"]) == 3
    assert doc["rows"][0]["I_q"] == 2 and doc["rows"][2]["I_p"] == "inf"
    totals = doc["totals"]
    assert totals["entropy"] == 1 and totals["cross_entropy"] == 1.5
    assert totals["kl_divergence"] == 0.5
    assert totals["kl_divergence_reverse"] == "inf"
    assert totals["gibbs_holds"] is True


def test_explain_rejects_bad_data():
    assert "negative" in data_error("explain", "0.5,0.5", "1.5,-0.5")


def test_demo():
    out = ok("demo")
    for section in [
        "1. Information",
        "2. Entropy",
        "3. Cross entropy",
        "4. KL divergence",
        "5. Cross-entropy loss",
    ]:
        assert section in out
    assert "I(AB)" in out and "3.5850" in out
    assert "0.4690" in out and "1.7500" in out
    assert "Gibbs" in out
    assert "0.2075" in out and "0.1887" in out
    assert "(0, 0, 1, 0)" in out


def test_demo_other_bases():
    out = ok("demo", "--base", "nats")
    assert "[nats]" in out and "0.6931" in out
    assert "[hartleys]" in ok("demo", "--base", "10")


# ---- loss --logits: the batched loss of logits, against PyTorch ------------------


@pytest.fixture
def logits_files(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 5)) * 3
    paths = {
        "x32": tmp_path / "x32.npy",
        "x64": tmp_path / "x64.npy",
        "t": tmp_path / "t.npy",
        "soft": tmp_path / "soft.npy",
        "grad": tmp_path / "g.npy",
    }
    np.save(paths["x32"], x.astype(np.float32))
    np.save(paths["x64"], x)
    np.save(paths["t"], np.array([0, 4, -100, 2, 1, 3], dtype=np.int64))
    soft = rng.random(size=(6, 5))
    np.save(paths["soft"], soft / soft.sum(axis=1, keepdims=True))
    return x, paths


def torch_loss(x, target, **kwargs):
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(xt, torch.tensor(target), **kwargs)
    if loss.dim() == 0:
        loss.backward()
        return loss.item(), xt.grad.numpy()
    return loss.detach().numpy(), None


@pytest.mark.parametrize("dtype,rtol", [("x64", 1e-12), ("x32", 2e-6)])
def test_logits_loss_and_gradient_match_torch(logits_files, dtype, rtol):
    x, paths = logits_files
    doc = json_of("loss", "--logits", paths[dtype], "--target", paths["t"],
                  "--label-smoothing", "0.1", "--grad-out", paths["grad"])
    expected, grad = torch_loss(x, np.load(paths["t"]), label_smoothing=0.1)
    assert doc["measure"] == "cross_entropy_loss"
    assert doc["unit"] == "nats" and doc["reduction"] == "mean"
    assert doc["dtype"] == ("float32" if dtype == "x32" else "float64")
    assert doc["value"] == pytest.approx(expected, rel=rtol)
    saved = np.load(paths["grad"])
    assert saved.dtype == (np.float32 if dtype == "x32" else np.float64)
    assert np.allclose(saved, grad, rtol=0, atol=1e-6 if dtype == "x32" else 1e-14)


def test_logits_loss_options(logits_files):
    x, paths = logits_files
    weight = "1,2,0.5,1,3"
    doc = json_of("loss", "--logits", paths["x64"], "--target", paths["t"], "--weight", weight,
                  "--reduction", "none")
    expected, _ = torch_loss(x, np.load(paths["t"]), reduction="none",
                             weight=__import__("torch").tensor([1, 2, 0.5, 1, 3.0],
                                                               dtype=__import__("torch").float64))
    assert np.allclose(doc["values"], expected, rtol=1e-12, atol=0)
    soft = json_of("loss", "--logits", paths["x64"], "--target", paths["soft"])
    expected_soft, _ = torch_loss(x, np.load(paths["soft"]))
    assert soft["value"] == pytest.approx(expected_soft, rel=1e-12)
    assert soft["target"] == "probabilities"
    bits = json_of("loss", "--logits", paths["x64"], "--target", paths["t"], "--base", "bits")
    nats = json_of("loss", "--logits", paths["x64"], "--target", paths["t"])
    assert bits["value"] == pytest.approx(nats["value"] / math.log(2), rel=1e-14)
    text = ok("loss", "--logits", paths["x64"], "--target", paths["t"])
    assert "cross-entropy loss (mean over 6 rows of 5 classes)" in text and "nats" in text


def test_logits_loss_errors(logits_files, tmp_path):
    _, paths = logits_files
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([0, 9, 1, 1, 1, 1], dtype=np.int64))
    assert "out of range" in data_error("loss", "--logits", paths["x64"], "--target", bad)
    assert "is not a class index" in data_error("loss", "--logits", paths["x64"],
                                                 "--target", "0,1.5,1,1,1,1")
    usage_error("loss", "--logits", paths["x64"], "--target", paths["t"], "--normalize")
    usage_error("loss", "--logits", paths["x64"], "--target", paths["t"], "--reduction", "avg")
    usage_error("loss", "0.5,0.5", "--logits", paths["x64"], "--target", paths["t"])


def test_demo_trains_a_classifier():
    out = ok("demo")
    assert "6. Training a classifier with the cross-entropy loss" in out
    rows = re.findall(r"^\s+(\d+)\s+(\d+\.\d+)\s+(-?\d+\.\d+)\s+(\d+\.\d) %$", out, re.M)
    losses = [float(r[1]) for r in rows]
    accuracy = [float(r[3]) for r in rows]
    assert len(rows) >= 8
    assert losses == sorted(losses, reverse=True) and losses[0] > 2 * losses[-1]
    assert accuracy[-1] > accuracy[0] + 30


# ---- entropy --bytes: the byte values of a file -----------------------------------


def byte_entropy_bits(data):
    """SciPy's entropy of the byte counts, the reference."""
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    return float(scipy.stats.entropy(counts, base=2))


def test_byte_entropy_of_files(tmp_path):
    rng = np.random.default_rng(5)
    # Skewed bytes, and a file past one 32 MiB mapping window.
    skewed = rng.geometric(0.05, size=100_003).clip(max=255).astype(np.uint8).tobytes()
    big = rng.integers(0, 200, size=(32 << 20) + 12_345, dtype=np.uint8).tobytes()
    for name, data in [("skewed.bin", skewed), ("big.bin", big), ("one.bin", b"x")]:
        path = tmp_path / name
        path.write_bytes(data)
        doc = json_of("entropy", "--bytes", path)
        assert doc["measure"] == "byte_entropy"
        assert doc["value"] == pytest.approx(byte_entropy_bits(data), rel=1e-14, abs=0)
        assert doc["bytes"] == len(data)
        assert doc["distinct"] == len(set(data))
        assert doc["file"] == str(path)
        assert (doc["unit"], doc["base"], doc["dtype"]) == ("bits", 2, "float64")
    assert json_of("entropy", "--bytes", tmp_path / "one.bin")["value"] == 0


def test_byte_entropy_human_output_and_base(tmp_path):
    path = tmp_path / "ab.txt"
    path.write_bytes(b"abab")
    assert ok("entropy", "--bytes", path).strip() == (
        f"H(bytes of {path}) = 1 bits per byte (4 bytes, 2 of the 256 values occur)"
    )
    assert json_of("entropy", "--bytes", path, "--base", "nats")["value"] == pytest.approx(
        math.log(2), rel=1e-15
    )


def test_byte_entropy_of_binary_stdin():
    data = bytes(range(256)) * 3 + b"\x00\xff\n"
    proc = subprocess.run(
        [CLI, "entropy", "--bytes", "-", "--json"], input=data, capture_output=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["file"] == "<stdin>"
    assert doc["bytes"] == len(data)
    assert doc["value"] == pytest.approx(byte_entropy_bits(data), rel=1e-14, abs=0)


def test_byte_entropy_errors(tmp_path):
    (tmp_path / "empty.bin").write_bytes(b"")
    err = data_error("entropy", "--bytes", tmp_path / "empty.bin")
    assert "empty.bin is empty: byte entropy needs at least one byte" in err
    assert "cannot open: No such file or directory" in data_error(
        "entropy", "--bytes", tmp_path / "missing.bin"
    )
    assert "cannot read: Is a directory" in data_error("entropy", "--bytes", tmp_path)
    assert "--normalize does not apply to --bytes" in usage_error(
        "entropy", "--bytes", tmp_path / "empty.bin", "--normalize"
    )
