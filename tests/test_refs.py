"""Refs: the SDK's JSON schema, clear id errors, binding outside the schema, the registry."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from vlmrun_jupyter import refs
from vlmrun_jupyter.arrays import load_array
from vlmrun_jupyter.client import Client, parse_result
from vlmrun_jupyter.errors import IntegrityError, ResponseSchemaError, UnboundRefError

# Runs inside the venv that holds the official SDK (see conftest.compat_python): prints
# the JSON schema of each SDK ref class, of ours, and of a model holding refs built each way.
SCHEMAS = r"""
import json
from pydantic import create_model
import vlmrun.types as sdk
from vlmrun_jupyter import refs

def holder(image, video):
    return create_model("Holder", image=(image, ...), frames=(list[video], ...)).model_json_schema()

out = {"sdk": {}, "ours": {}}
for cls in refs.REF_CLASSES:
    out["sdk"][cls.__name__] = getattr(sdk, cls.__name__).model_json_schema()
    out["ours"][cls.__name__] = cls.model_json_schema()
out["sdk"]["Holder"] = holder(sdk.ImageRef, sdk.VideoRef)
out["ours"]["Holder"] = holder(refs.ImageRef, refs.VideoRef)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def sdk_schemas(compat_python) -> dict:
    proc = subprocess.run(
        [str(compat_python), "-c", SCHEMAS], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.sdk
@pytest.mark.parametrize("name", [c.__name__ for c in refs.REF_CLASSES])
def test_schema_equals_the_sdk(sdk_schemas, name):
    assert sdk_schemas["ours"][name] == sdk_schemas["sdk"][name]


@pytest.mark.sdk
def test_schema_of_a_model_holding_refs_equals_the_sdk(sdk_schemas):
    assert sdk_schemas["ours"]["Holder"] == sdk_schemas["sdk"]["Holder"]


@pytest.mark.sdk
def test_our_schema_is_the_same_in_the_test_venv(sdk_schemas):
    """The pydantic in the SDK's venv and ours render our classes identically."""
    for cls in refs.REF_CLASSES:
        assert cls.model_json_schema() == sdk_schemas["ours"][cls.__name__]


@pytest.mark.parametrize("bad", ["img_abc", "vid_abc123", "img_abc12!", "img_abc1234", 7, ""])
def test_bad_id_names_the_expected_form(bad):
    with pytest.raises(ValidationError) as info:
        refs.ImageRef(id=bad)
    assert "img_a1b2c3" in str(info.value)
    assert "'img_' followed by 6 letters or digits" in str(info.value)


def test_binding_is_outside_the_schema_and_dump():
    ref = refs.ImageRef(id="img_aaaaaa").bind(session_id="sess-1")
    assert ref.model_dump() == {"id": "img_aaaaaa"}
    assert json.loads(ref.model_dump_json()) == {"id": "img_aaaaaa"}
    assert ref.session_id == "sess-1" and ref.execution_id is None
    ref2 = refs.VideoRef(id="vid_bbbbbb").bind(execution_id="exec-1")
    assert ref2.execution_id == "exec-1" and ref2.namespace.query == {"execution_id": "exec-1"}
    with pytest.raises(ValueError):
        refs.ImageRef(id="img_cccccc").bind(session_id="a", execution_id="b")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 200, "a b"])
def test_namespace_ids_that_could_escape_the_cache_are_refused(bad):
    with pytest.raises(ValueError):
        refs.ImageRef(id="img_dddddd").bind(session_id=bad)


def test_a_ref_parsed_by_user_code_finds_its_session_through_the_registry():
    class Out(BaseModel):
        image: refs.ImageRef

    bound = parse_result('{"image": {"id": "img_reg001"}}', Out, refs.Namespace("session", "s-reg"))
    assert bound.image.session_id == "s-reg"
    # The user parses the same text again, without any binding.
    again = Out.model_validate_json('{"image": {"id": "img_reg001"}}')
    assert again.image._namespace is None
    assert again.image.session_id == "s-reg"


def test_an_unknown_ref_says_clearly_that_it_has_no_session(tmp_path):
    ref = refs.DocumentRef(id="doc_nowher")
    with Client(api_key="k", base_url="http://127.0.0.1:9/v1", cache_dir=tmp_path) as c:
        with pytest.raises(UnboundRefError) as info:
            c.fetch(ref)
    assert "doc_nowher" in str(info.value) and "bind" in str(info.value)


def test_dict_results_turn_ref_objects_into_bound_refs():
    ns = refs.Namespace("session", "s-dict")
    out = parse_result(
        '{"a": {"id": "img_dict01"}, "b": [{"id": "arr_dict02"}], "c": {"id": "nope"}, "d": 1}',
        None,
        ns,
    )
    assert isinstance(out["a"], refs.ImageRef) and out["a"].session_id == "s-dict"
    assert isinstance(out["b"][0], refs.ArrayRef)
    assert out["c"] == {"id": "nope"} and out["d"] == 1
    assert parse_result("plain words", None, ns) == "plain words"


def test_a_schema_mismatch_is_a_clear_error():
    class Out(BaseModel):
        image: refs.ImageRef

    with pytest.raises(ResponseSchemaError) as info:
        parse_result('{"image": {"id": "bad"}}', Out, None)
    assert "Out" in str(info.value)


# -- arrays --------------------------------------------------------------------------------


def test_load_array_reads_npy_and_json(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    assert np.array_equal(load_array(tmp_path / "a.npy"), a)
    (tmp_path / "b.npy").write_text(" [[1, 2], [3, 4]]")
    assert load_array(tmp_path / "b.npy").tolist() == [[1, 2], [3, 4]]


def test_load_array_refuses_pickles_and_junk(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(IntegrityError, match="not a plain numeric"):
        load_array(tmp_path / "obj.npy")
    (tmp_path / "junk.npy").write_bytes(b"PK\x03\x04 zip")
    with pytest.raises(IntegrityError, match="expected a .npy file"):
        load_array(tmp_path / "junk.npy")
    (tmp_path / "ragged.npy").write_text("[[1, 2], [3]]")
    with pytest.raises(IntegrityError):
        load_array(tmp_path / "ragged.npy")
