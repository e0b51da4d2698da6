"""The emulated board's build logic without building: missing tools and trees are one-line errors naming the
fix, a model folder without its C sources is refused, and an op list selects exactly its kernel sources
(CMSIS-NN or reference, Signal kernels with their DSP library) from a real vendored tree."""

from __future__ import annotations

import pytest

from tinykd.errors import TinykdError

from test_qemu_helpers import require_vendor


@pytest.fixture
def fresh_tools():
    from tinykd.device.qemu import toolchain

    for fn in (toolchain.arm_toolchain, toolchain.qemu_system_arm, toolchain.host_toolchain):
        fn.cache_clear()
    yield toolchain
    for fn in (toolchain.arm_toolchain, toolchain.qemu_system_arm, toolchain.host_toolchain):
        fn.cache_clear()


def test_missing_arm_toolchain_is_one_line_naming_the_install(fresh_tools, monkeypatch, tmp_path):
    monkeypatch.setenv("TINYKD_ARM_PREFIX", str(tmp_path / "nowhere" / "arm-none-eabi-"))
    with pytest.raises(fresh_tools.ToolchainMissing) as err:
        fresh_tools.arm_toolchain()
    text = str(err.value)
    assert "\n" not in text and "arm-none-eabi-gcc not found" in text
    assert fresh_tools.APT_INSTALL in text and "libnewlib-arm-none-eabi" in text
    # build_firmware says the same before compiling anything.
    from tinykd.device.qemu import build_firmware

    (tmp_path / "m").mkdir()
    for name in ("model_data.h", "model_data.cc", "model_ops.h"):
        (tmp_path / "m" / name).write_text("// empty\n")
    with pytest.raises(fresh_tools.ToolchainMissing, match="apt-get install"):
        build_firmware(tmp_path / "m")


def test_missing_qemu_is_one_line_naming_the_install(fresh_tools, monkeypatch, tmp_path):
    monkeypatch.setenv("TINYKD_QEMU", str(tmp_path / "qemu-system-arm"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(fresh_tools.ToolchainMissing) as err:
        fresh_tools.qemu_system_arm()
    assert "\n" not in str(err.value) and "qemu-system-arm" in str(err.value) and "apt-get install" in str(err.value)


def test_missing_vendor_tree_and_model_files_are_one_line_errors(monkeypatch, tmp_path):
    from tinykd.device.qemu.build import _model_files
    from tinykd.device.qemu.tree import resolve_tree

    monkeypatch.setenv("TINYKD_VENDOR", str(tmp_path / "no-vendor"))
    with pytest.raises(TinykdError, match="shared/vendor") as err:
        resolve_tree(None)
    assert "\n" not in str(err.value)
    with pytest.raises(TinykdError, match="not a TFLM tree"):
        resolve_tree(tmp_path)
    with pytest.raises(TinykdError, match="tinykd export c"):
        _model_files(tmp_path)
    with pytest.raises(TinykdError, match="kernels must be one of"):
        resolve_tree(None, "fast")


def test_tree_kind_must_match_the_kernels_asked_for():
    require_vendor()
    from tinykd.device.qemu.tree import resolve_tree

    ref = resolve_tree(None, "reference")
    cmsis = resolve_tree(None, "cmsis-nn")
    assert ref.digest != cmsis.digest and ref.has_signal and cmsis.has_signal
    with pytest.raises(TinykdError, match="reference kernels only"):
        resolve_tree(ref.root, "cmsis-nn")
    with pytest.raises(TinykdError, match="CMSIS-NN kernels"):
        resolve_tree(cmsis.root, "reference")
    assert resolve_tree(None, "cmsis-nn").root == cmsis.root  # unpacked once, reused


MS_OPS = """
inline TfLiteStatus tinykd_register_ops(tflite::MicroMutableOpResolver<kTinykdNumOps>& r) {
  if (r.AddDepthwiseConv2D() != kTfLiteOk) return kTfLiteError;
  if (r.AddFullyConnected() != kTfLiteOk) return kTfLiteError;
  if (r.AddReshape() != kTfLiteOk) return kTfLiteError;
  if (r.AddWindow() != kTfLiteOk) return kTfLiteError;
  if (r.AddRfft() != kTfLiteOk) return kTfLiteError;
  if (r.AddFftAutoScale() != kTfLiteOk) return kTfLiteError;
  return kTfLiteOk;
}
"""


@pytest.mark.parametrize("kernels", ["cmsis-nn", "reference"])
def test_op_list_selects_its_kernels_only(kernels):
    require_vendor()
    from tinykd.device.qemu.kernels import ops_header_methods, select_sources
    from tinykd.device.qemu.tree import resolve_tree

    tree = resolve_tree(None, kernels)
    assert ops_header_methods(MS_OPS)[:3] == ["AddDepthwiseConv2D", "AddFullyConnected", "AddReshape"]
    s = select_sources(tree.root, MS_OPS, host=False)
    rel = {p.relative_to(tree.root).as_posix() for p in s.kernels}
    kdir = "tensorflow/lite/micro/kernels/"
    if kernels == "cmsis-nn":
        assert {kdir + "cmsis_nn/depthwise_conv.cc", kdir + "cmsis_nn/fully_connected.cc"} <= rel
        assert s.cmsis_nn and not any(p.name.endswith(("_f32.c", "_f16.c")) for p in s.cmsis_nn)
    else:
        assert {kdir + "depthwise_conv.cc", kdir + "fully_connected.cc"} <= rel and not s.cmsis_nn
    # companions: *_common.cc, and conv_common.cc because depthwise_conv.h includes conv.h
    assert {kdir + "depthwise_conv_common.cc", kdir + "conv_common.cc", kdir + "reshape_common.cc"} <= rel
    assert {"signal/micro/kernels/window.cc", "signal/micro/kernels/rfft.cc",
            "signal/micro/kernels/fft_auto_scale_kernel.cc", "signal/micro/kernels/fft_auto_scale_common.cc"} <= rel
    assert s.signal and all("signal/src" in p.as_posix() for p in s.signal)
    # nothing the op list does not name
    assert not any(name in r for r in rel for name in ("/conv.cc", "softmax", "svdf", "lstm", "pooling"))
    assert not any(p.name in ("debug_log.cc", "micro_time.cc", "test_helpers.cc") for p in s.framework)
    host = select_sources(tree.root, MS_OPS, host=True)
    if kernels == "reference":
        assert any(p.name == "debug_log.cc" for p in host.framework)


def test_unknown_resolver_method_is_named():
    require_vendor()
    from tinykd.device.qemu.kernels import select_sources
    from tinykd.device.qemu.tree import resolve_tree

    with pytest.raises(TinykdError, match="AddTeleport"):
        select_sources(resolve_tree(None, "reference").root, "  if (r.AddTeleport() != kTfLiteOk)", host=True)
    with pytest.raises(TinykdError, match="registers no op"):
        select_sources(resolve_tree(None, "reference").root, "// nothing", host=True)


def test_cmsis_nn_library_leaves_out_float_files(tmp_path):
    from tinykd.device.qemu.kernels import cmsis_nn_library

    src = tmp_path / "third_party" / "cmsis_nn" / "Source" / "ConvolutionFunctions"
    src.mkdir(parents=True)
    for name in ("arm_convolve_s8.c", "arm_convolve_f32.c", "arm_nn_f16.c"):
        (src / name).write_text("")
    (src.parent / "arm_nntables_flt.c").write_text("")
    assert [p.name for p in cmsis_nn_library(tmp_path)] == ["arm_convolve_s8.c"]
