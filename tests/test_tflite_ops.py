"""tinykd.tflite.ops: the committed table of which MicroMutableOpResolver methods each target TFLM library has
equals what the vendored libraries' own micro_mutable_op_resolver.h declare (re-derived here from the
archives, without unpacking them), and `missing_ops` reads it. tests/test_firmware_sketch.py shows the
compiler agrees: a model_ops.h fails against a library with exactly the methods `missing_ops` names."""

from __future__ import annotations

import tarfile

import pytest

from test_qemu_helpers import require_vendor
from tinykd.errors import TinykdError
from tinykd.tflite.ops import (_ESP_BEFORE_1_3_4_LACKS, TFLM_ADD_METHODS, TFLM_CUSTOM_ADD_METHODS,
                               TFLM_TARGET_ADD_METHODS, TFLM_TARGET_HEADERS, header_add_methods, missing_ops)


def _vendored_header(target: str) -> str:
    from tinykd.device.qemu.tree import vendor_dir

    archive, member = TFLM_TARGET_HEADERS[target]
    with tarfile.open(vendor_dir() / archive) as tar:
        return tar.extractfile(member).read().decode()


@pytest.mark.parametrize("target", sorted(TFLM_TARGET_ADD_METHODS))
def test_committed_table_equals_the_vendored_headers(target):
    require_vendor("esp-tflite-micro", "chirale")
    derived = header_add_methods(_vendored_header(target))
    if target == "esp-tflite-micro-1.2.0":  # no 1.2.0 archive: the 1.4.0 header minus what < 1.3.4 lacks
        assert _ESP_BEFORE_1_3_4_LACKS <= derived
        derived -= _ESP_BEFORE_1_3_4_LACKS
    assert TFLM_TARGET_ADD_METHODS[target] == derived, (
        sorted(TFLM_TARGET_ADD_METHODS[target] ^ derived))


def test_every_method_tinykd_emits_exists_upstream():
    emitted = set(TFLM_ADD_METHODS.values()) | set(TFLM_CUSTOM_ADD_METHODS.values())
    assert emitted <= TFLM_TARGET_ADD_METHODS["tflm"]
    assert missing_ops(sorted(emitted), "tflm") == []


def test_header_parser_reads_public_methods_only():
    text = """
    template <unsigned int tOpCount>
    class MicroMutableOpResolver : public MicroOpResolver {
     public:
      TfLiteStatus AddCustom(const char* name, TFLMRegistration* registration) { return kTfLiteOk; }
      TfLiteStatus AddConv2D(
          const TFLMRegistration& registration = Register_CONV_2D()) { return AddBuiltin(); }
      TfLiteStatus AddWindow() { return AddCustom("SignalWindow", Register_WINDOW()); }
     private:
      TfLiteStatus AddBuiltin(tflite::BuiltinOperator op) { return kTfLiteOk; }
    };"""
    assert header_add_methods(text) == {"AddCustom", "AddConv2D", "AddWindow"}


def test_missing_ops_per_target():
    model = ["AddConv2D", "AddWindow", "AddRfft", "AddReduceMin", "AddBatchMatMul", "AddWindow", "AddReverseV2"]
    assert missing_ops(model, "tflm") == []
    assert missing_ops(model, "esp-tflite-micro-1.4.0") == []
    assert missing_ops(model, "esp-tflite-micro-1.2.0") == ["AddReduceMin", "AddReverseV2"]
    # the mbed library: no Signal ops, no AddBatchMatMul; in the model's order, without repeats
    assert missing_ops(model, "chirale-2.0.0") == ["AddWindow", "AddRfft", "AddReduceMin", "AddBatchMatMul",
                                                   "AddReverseV2"]
    assert missing_ops([], "chirale-2.0.0") == []


def test_unknown_target_is_one_line():
    with pytest.raises(TinykdError, match="unknown TFLM target 'esp-tflite-micro-9'") as err:
        missing_ops(["AddConv2D"], "esp-tflite-micro-9")
    assert "\n" not in str(err.value) and "chirale-2.0.0" in str(err.value)
