"""ONNX's own node test cases (`onnx.backend.test.case.node`) run on the NumPy interpreter.

Every case whose ops all have a kernel is a test (see conftest.py); the ops inside the subgraphs
of its control-flow nodes (If, Loop, Scan) must have kernels too. A case of a supported op is
excluded only by name in EXCLUDED below, with its reason: all of them use element types out of
scope (bfloat16, float8, float4, int4, int2, strings) or sequence/optional values, and a test
checks that the list is exactly the cases that do. Cases whose outputs are random are checked
for their semantics instead of their values (RANDOM_OUTPUTS).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import AttributeProto, TensorProto, helper

from nnc.runtime.interpreter import Interpreter

_BFLOAT16 = "bfloat16 tensors are out of scope (NumPy has no bfloat16)"
_FLOAT8 = "float8 tensors are out of scope (NumPy has no float8)"
_FLOAT4 = "float4 tensors are out of scope (NumPy has no float4)"
_INT4 = "int4/uint4 tensors are out of scope (NumPy has no 4-bit integers)"
_INT2 = "int2/uint2 tensors are out of scope (NumPy has no 2-bit integers)"
_STRING = "string tensors are out of scope (the compiler emits numeric tensors only)"
_SEQUENCE = "sequence and optional types are out of scope (the compiler emits tensors only)"

EXCLUDED: dict[str, str] = {
    "test_attention_3d_causal_bf16_expanded": _BFLOAT16,
    "test_attention_4d_attn_mask_causal_bf16_expanded": _BFLOAT16,
    "test_attention_4d_causal_bf16_expanded": _BFLOAT16,
    "test_attention_4d_causal_padded_kv_bf16_expanded": _BFLOAT16,
    "test_attention_4d_padded_kv_bf16_expanded": _BFLOAT16,
    "test_cast_BFLOAT16_to_FLOAT": _BFLOAT16,
    "test_cast_FLOAT16_to_FLOAT4E2M1": _FLOAT4,
    "test_cast_FLOAT16_to_FLOAT8E4M3FN": _FLOAT8,
    "test_cast_FLOAT16_to_FLOAT8E4M3FNUZ": _FLOAT8,
    "test_cast_FLOAT16_to_FLOAT8E5M2": _FLOAT8,
    "test_cast_FLOAT16_to_FLOAT8E5M2FNUZ": _FLOAT8,
    "test_cast_FLOAT16_to_INT2": _INT2,
    "test_cast_FLOAT16_to_INT4": _INT4,
    "test_cast_FLOAT16_to_UINT2": _INT2,
    "test_cast_FLOAT16_to_UINT4": _INT4,
    "test_cast_FLOAT4E2M1_to_FLOAT": _FLOAT4,
    "test_cast_FLOAT4E2M1_to_FLOAT16": _FLOAT4,
    "test_cast_FLOAT8E4M3FNUZ_to_FLOAT": _FLOAT8,
    "test_cast_FLOAT8E4M3FNUZ_to_FLOAT16": _FLOAT8,
    "test_cast_FLOAT8E4M3FN_to_FLOAT": _FLOAT8,
    "test_cast_FLOAT8E4M3FN_to_FLOAT16": _FLOAT8,
    "test_cast_FLOAT8E5M2FNUZ_to_FLOAT": _FLOAT8,
    "test_cast_FLOAT8E5M2FNUZ_to_FLOAT16": _FLOAT8,
    "test_cast_FLOAT8E5M2_to_FLOAT": _FLOAT8,
    "test_cast_FLOAT8E5M2_to_FLOAT16": _FLOAT8,
    "test_cast_FLOAT_to_BFLOAT16": _BFLOAT16,
    "test_cast_FLOAT_to_FLOAT4E2M1": _FLOAT4,
    "test_cast_FLOAT_to_FLOAT8E4M3FN": _FLOAT8,
    "test_cast_FLOAT_to_FLOAT8E4M3FNUZ": _FLOAT8,
    "test_cast_FLOAT_to_FLOAT8E5M2": _FLOAT8,
    "test_cast_FLOAT_to_FLOAT8E5M2FNUZ": _FLOAT8,
    "test_cast_FLOAT_to_INT2": _INT2,
    "test_cast_FLOAT_to_INT4": _INT4,
    "test_cast_FLOAT_to_UINT2": _INT2,
    "test_cast_FLOAT_to_UINT4": _INT4,
    "test_cast_INT2_to_FLOAT": _INT2,
    "test_cast_INT2_to_FLOAT16": _INT2,
    "test_cast_INT2_to_INT8": _INT2,
    "test_cast_INT4_to_FLOAT": _INT4,
    "test_cast_INT4_to_FLOAT16": _INT4,
    "test_cast_INT4_to_INT8": _INT4,
    "test_cast_UINT2_to_FLOAT": _INT2,
    "test_cast_UINT2_to_FLOAT16": _INT2,
    "test_cast_UINT2_to_UINT8": _INT2,
    "test_cast_UINT4_to_FLOAT": _INT4,
    "test_cast_UINT4_to_FLOAT16": _INT4,
    "test_cast_UINT4_to_UINT8": _INT4,
    "test_cast_e8m0_FLOAT16_to_FLOAT8E8M0": _FLOAT8,
    "test_cast_e8m0_FLOAT8E8M0_to_FLOAT": _FLOAT8,
    "test_cast_e8m0_FLOAT8E8M0_to_FLOAT16": _FLOAT8,
    "test_cast_e8m0_FLOAT_to_FLOAT8E8M0": _FLOAT8,
    "test_cast_no_saturate_FLOAT16_to_FLOAT8E4M3FN": _FLOAT8,
    "test_cast_no_saturate_FLOAT16_to_FLOAT8E4M3FNUZ": _FLOAT8,
    "test_cast_no_saturate_FLOAT16_to_FLOAT8E5M2": _FLOAT8,
    "test_cast_no_saturate_FLOAT16_to_FLOAT8E5M2FNUZ": _FLOAT8,
    "test_cast_no_saturate_FLOAT_to_FLOAT8E4M3FN": _FLOAT8,
    "test_cast_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ": _FLOAT8,
    "test_cast_no_saturate_FLOAT_to_FLOAT8E5M2": _FLOAT8,
    "test_cast_no_saturate_FLOAT_to_FLOAT8E5M2FNUZ": _FLOAT8,
    "test_castlike_BFLOAT16_to_FLOAT": _BFLOAT16,
    "test_castlike_BFLOAT16_to_FLOAT_expanded": _BFLOAT16,
    "test_castlike_FLOAT16_to_FLOAT4E2M1": _FLOAT4,
    "test_castlike_FLOAT16_to_FLOAT4E2M1_expanded": _FLOAT4,
    "test_castlike_FLOAT16_to_FLOAT8E4M3FN": _FLOAT8,
    "test_castlike_FLOAT16_to_FLOAT8E4M3FNUZ": _FLOAT8,
    "test_castlike_FLOAT16_to_FLOAT8E4M3FNUZ_expanded": _FLOAT8,
    "test_castlike_FLOAT16_to_FLOAT8E4M3FN_expanded": _FLOAT8,
    "test_castlike_FLOAT16_to_FLOAT8E5M2": _FLOAT8,
    "test_castlike_FLOAT16_to_FLOAT8E5M2FNUZ": _FLOAT8,
    "test_castlike_FLOAT16_to_FLOAT8E5M2FNUZ_expanded": _FLOAT8,
    "test_castlike_FLOAT16_to_FLOAT8E5M2_expanded": _FLOAT8,
    "test_castlike_FLOAT16_to_INT2": _INT2,
    "test_castlike_FLOAT16_to_INT2_expanded": _INT2,
    "test_castlike_FLOAT16_to_INT4": _INT4,
    "test_castlike_FLOAT16_to_INT4_expanded": _INT4,
    "test_castlike_FLOAT16_to_UINT2": _INT2,
    "test_castlike_FLOAT16_to_UINT2_expanded": _INT2,
    "test_castlike_FLOAT16_to_UINT4": _INT4,
    "test_castlike_FLOAT16_to_UINT4_expanded": _INT4,
    "test_castlike_FLOAT4E2M1_to_FLOAT": _FLOAT4,
    "test_castlike_FLOAT4E2M1_to_FLOAT16": _FLOAT4,
    "test_castlike_FLOAT4E2M1_to_FLOAT16_expanded": _FLOAT4,
    "test_castlike_FLOAT4E2M1_to_FLOAT_expanded": _FLOAT4,
    "test_castlike_FLOAT8E4M3FNUZ_to_FLOAT": _FLOAT8,
    "test_castlike_FLOAT8E4M3FNUZ_to_FLOAT16": _FLOAT8,
    "test_castlike_FLOAT8E4M3FNUZ_to_FLOAT16_expanded": _FLOAT8,
    "test_castlike_FLOAT8E4M3FNUZ_to_FLOAT_expanded": _FLOAT8,
    "test_castlike_FLOAT8E4M3FN_to_FLOAT": _FLOAT8,
    "test_castlike_FLOAT8E4M3FN_to_FLOAT16": _FLOAT8,
    "test_castlike_FLOAT8E4M3FN_to_FLOAT16_expanded": _FLOAT8,
    "test_castlike_FLOAT8E4M3FN_to_FLOAT_expanded": _FLOAT8,
    "test_castlike_FLOAT8E5M2FNUZ_to_FLOAT": _FLOAT8,
    "test_castlike_FLOAT8E5M2FNUZ_to_FLOAT16": _FLOAT8,
    "test_castlike_FLOAT8E5M2FNUZ_to_FLOAT16_expanded": _FLOAT8,
    "test_castlike_FLOAT8E5M2FNUZ_to_FLOAT_expanded": _FLOAT8,
    "test_castlike_FLOAT8E5M2_to_FLOAT": _FLOAT8,
    "test_castlike_FLOAT8E5M2_to_FLOAT16": _FLOAT8,
    "test_castlike_FLOAT8E5M2_to_FLOAT16_expanded": _FLOAT8,
    "test_castlike_FLOAT8E5M2_to_FLOAT_expanded": _FLOAT8,
    "test_castlike_FLOAT_to_BFLOAT16": _BFLOAT16,
    "test_castlike_FLOAT_to_BFLOAT16_expanded": _BFLOAT16,
    "test_castlike_FLOAT_to_FLOAT4E2M1": _FLOAT4,
    "test_castlike_FLOAT_to_FLOAT4E2M1_expanded": _FLOAT4,
    "test_castlike_FLOAT_to_FLOAT8E4M3FN": _FLOAT8,
    "test_castlike_FLOAT_to_FLOAT8E4M3FNUZ": _FLOAT8,
    "test_castlike_FLOAT_to_FLOAT8E4M3FNUZ_expanded": _FLOAT8,
    "test_castlike_FLOAT_to_FLOAT8E4M3FN_expanded": _FLOAT8,
    "test_castlike_FLOAT_to_FLOAT8E5M2": _FLOAT8,
    "test_castlike_FLOAT_to_FLOAT8E5M2FNUZ": _FLOAT8,
    "test_castlike_FLOAT_to_FLOAT8E5M2FNUZ_expanded": _FLOAT8,
    "test_castlike_FLOAT_to_FLOAT8E5M2_expanded": _FLOAT8,
    "test_castlike_FLOAT_to_INT2": _INT2,
    "test_castlike_FLOAT_to_INT2_expanded": _INT2,
    "test_castlike_FLOAT_to_INT4": _INT4,
    "test_castlike_FLOAT_to_INT4_expanded": _INT4,
    "test_castlike_FLOAT_to_UINT2": _INT2,
    "test_castlike_FLOAT_to_UINT2_expanded": _INT2,
    "test_castlike_FLOAT_to_UINT4": _INT4,
    "test_castlike_FLOAT_to_UINT4_expanded": _INT4,
    "test_castlike_INT2_to_FLOAT": _INT2,
    "test_castlike_INT2_to_FLOAT16": _INT2,
    "test_castlike_INT2_to_FLOAT16_expanded": _INT2,
    "test_castlike_INT2_to_FLOAT_expanded": _INT2,
    "test_castlike_INT2_to_INT8": _INT2,
    "test_castlike_INT2_to_INT8_expanded": _INT2,
    "test_castlike_INT4_to_FLOAT": _INT4,
    "test_castlike_INT4_to_FLOAT16": _INT4,
    "test_castlike_INT4_to_FLOAT16_expanded": _INT4,
    "test_castlike_INT4_to_FLOAT_expanded": _INT4,
    "test_castlike_INT4_to_INT8": _INT4,
    "test_castlike_INT4_to_INT8_expanded": _INT4,
    "test_castlike_UINT2_to_FLOAT": _INT2,
    "test_castlike_UINT2_to_FLOAT16": _INT2,
    "test_castlike_UINT2_to_FLOAT16_expanded": _INT2,
    "test_castlike_UINT2_to_FLOAT_expanded": _INT2,
    "test_castlike_UINT2_to_UINT8": _INT2,
    "test_castlike_UINT2_to_UINT8_expanded": _INT2,
    "test_castlike_UINT4_to_FLOAT": _INT4,
    "test_castlike_UINT4_to_FLOAT16": _INT4,
    "test_castlike_UINT4_to_FLOAT16_expanded": _INT4,
    "test_castlike_UINT4_to_FLOAT_expanded": _INT4,
    "test_castlike_UINT4_to_UINT8": _INT4,
    "test_castlike_UINT4_to_UINT8_expanded": _INT4,
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FN": _FLOAT8,
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FNUZ": _FLOAT8,
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FNUZ_expanded": _FLOAT8,
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E4M3FN_expanded": _FLOAT8,
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2": _FLOAT8,
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2FNUZ": _FLOAT8,
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2FNUZ_expanded": _FLOAT8,
    "test_castlike_no_saturate_FLOAT16_to_FLOAT8E5M2_expanded": _FLOAT8,
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FN": _FLOAT8,
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ": _FLOAT8,
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ_expanded": _FLOAT8,
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FN_expanded": _FLOAT8,
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2": _FLOAT8,
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2FNUZ": _FLOAT8,
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2FNUZ_expanded": _FLOAT8,
    "test_castlike_no_saturate_FLOAT_to_FLOAT8E5M2_expanded": _FLOAT8,
    "test_celu_bfloat16": _BFLOAT16,
    "test_celu_bfloat16_expanded": _BFLOAT16,
    "test_compress_bfloat16": _BFLOAT16,
    "test_einsum_batch_matmul_bfloat16": _BFLOAT16,
    "test_einsum_sum_bfloat16": _BFLOAT16,
    "test_einsum_transpose_bfloat16": _BFLOAT16,
    "test_equal_string": _STRING,
    "test_equal_string_broadcast": _STRING,
    "test_identity_opt": _SEQUENCE,
    "test_identity_sequence": _SEQUENCE,
    "test_if_opt": _SEQUENCE,
    "test_if_seq": _SEQUENCE,
    "test_loop13_seq": _SEQUENCE,
    "test_loop16_seq_none": _SEQUENCE,
    "test_onehot_with_bfloat16_values": _BFLOAT16,
    "test_range_bfloat16_type_positive_delta": _BFLOAT16,
    "test_range_bfloat16_type_positive_delta_expanded": _BFLOAT16,
}

# The expected values of these cases are rounded, so they are compared with the case's own
# (looser) tolerance instead of the dtype's.
CASE_TOLERANCE: dict[str, str] = {
    "test_averagepool_2d_ceil_last_window_starts_on_pad": "expected values rounded to 4 decimals",
}


def _check_dropout(inputs: list[np.ndarray], got: list[np.ndarray]) -> None:
    """Training dropout: each entry dropped (0) or kept and scaled by 1 / (1 - ratio)."""
    x = inputs[0]
    ratio = float(inputs[1]) if len(inputs) > 1 else 0.5
    y = got[0]
    assert y.dtype == x.dtype and y.shape == x.shape
    if len(got) > 1:
        mask = got[1]
        assert mask.dtype == np.bool_ and mask.shape == x.shape
    else:
        mask = y != 0
    np.testing.assert_allclose(y, np.where(mask, x / (1 - ratio), 0), rtol=1e-6)
    # With 60 entries, the kept share lies within 5 standard deviations of 1 - ratio.
    spread = 5 * np.sqrt(ratio * (1 - ratio) / x.size)
    assert abs(mask.mean() - (1 - ratio)) <= spread


RANDOM_OUTPUTS = {
    "test_training_dropout": _check_dropout,
    "test_training_dropout_default": _check_dropout,
    "test_training_dropout_default_mask": _check_dropout,
    "test_training_dropout_mask": _check_dropout,
}

# The tolerance of each float dtype against the cases' expected values.
TOLERANCE = {
    np.dtype(np.float16): dict(rtol=1e-3, atol=1e-3),
    np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
}


def test_node_case(onnx_node_case):
    case = onnx_node_case
    if case.name in EXCLUDED:
        pytest.skip(EXCLUDED[case.name])
    model = case.model
    interpreter = Interpreter(model)
    input_names = [value.name for value in model.graph.input]
    for inputs, expected in case.data_sets:
        got = interpreter.run(None, dict(zip(input_names, inputs, strict=False)))
        if case.name in RANDOM_OUTPUTS:
            RANDOM_OUTPUTS[case.name](inputs, got)
            continue
        assert len(got) == len(expected)
        for value, want, declared in zip(got, expected, model.graph.output, strict=True):
            want = np.asarray(want)
            dtype = helper.tensor_dtype_to_np_dtype(declared.type.tensor_type.elem_type)
            assert value.dtype == dtype, f"{declared.name}: dtype {value.dtype}, declared {dtype}"
            assert value.shape == want.shape, f"{declared.name}: shape {value.shape}"
            if case.name in CASE_TOLERANCE:
                tolerance = dict(rtol=case.rtol, atol=case.atol)
            else:
                tolerance = TOLERANCE.get(value.dtype)
            if tolerance is None:
                np.testing.assert_array_equal(value, want, err_msg=declared.name)
            else:
                np.testing.assert_allclose(value, want, err_msg=declared.name, **tolerance)


_IN_SCOPE_TYPES = {
    TensorProto.FLOAT,
    TensorProto.DOUBLE,
    TensorProto.FLOAT16,
    TensorProto.INT8,
    TensorProto.INT16,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.UINT8,
    TensorProto.UINT16,
    TensorProto.UINT32,
    TensorProto.UINT64,
    TensorProto.BOOL,
}


def _uses_out_of_scope_types(model) -> bool:
    """Whether a value, initializer, tensor attribute or Cast target is not a numeric tensor,
    in the graph or in any of its subgraphs (If branches, Loop and Scan bodies)."""
    return _graph_uses_out_of_scope_types(model.graph)


def _graph_uses_out_of_scope_types(graph) -> bool:
    types = [t.data_type for t in graph.initializer]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        kind = value.type.WhichOneof("value")
        if kind is None:  # untyped, as the outputs of expanded functions' branches may be
            continue
        if kind != "tensor_type":
            return True
        if value.type.tensor_type.elem_type != TensorProto.UNDEFINED:
            types.append(value.type.tensor_type.elem_type)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == AttributeProto.TENSOR:
                types.append(attribute.t.data_type)
            elif attribute.type == AttributeProto.GRAPH:
                if _graph_uses_out_of_scope_types(attribute.g):
                    return True
            elif node.op_type == "Cast" and attribute.name == "to":
                types.append(attribute.i)
    return any(t not in _IN_SCOPE_TYPES for t in types)


def test_exclusions_are_exactly_the_out_of_scope_cases(onnx_node_cases):
    out_of_scope = {case.name for case in onnx_node_cases if _uses_out_of_scope_types(case.model)}
    assert not out_of_scope - set(EXCLUDED), "cases with out-of-scope types to add to EXCLUDED"
    assert not set(EXCLUDED) - out_of_scope, "EXCLUDED cases that use no out-of-scope type"


def test_exclusions_are_current(onnx_node_cases):
    """Every excluded or specially checked name is a supported case (no stale entries)."""
    names = {case.name for case in onnx_node_cases}
    stale = (set(EXCLUDED) | set(CASE_TOLERANCE) | set(RANDOM_OUTPUTS)) - names
    assert not stale, f"not among the supported node cases (remove them): {sorted(stale)}"


def test_every_supported_op_has_a_node_case(onnx_node_cases):
    """Each kernel runs in at least one case that is not excluded."""
    covered = set()
    for case in onnx_node_cases:
        if case.name not in EXCLUDED:
            covered |= case.op_types
    missing = set(Interpreter.supported_ops()) - covered
    assert not missing, f"supported ops without a node case: {sorted(missing)}"
