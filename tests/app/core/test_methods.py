"""Methods are typed keys: equal keys name one method, their text form goes through the preferences and back."""

from pathlib import Path

import pytest

from app.core.methods import DEFAULT, SCRATCH, MethodKey


@pytest.mark.parametrize("key", [DEFAULT, SCRATCH, MethodKey.baseline("laplacian"), MethodKey.session(3),
                                 MethodKey.user("/models/my model.safetensors"),
                                 MethodKey.pth(r"C:\ck\ReFusion_IVIF.pth"), MethodKey.user("/odd/a:b.safetensors")])
def test_text_form_round_trips(key):
    assert MethodKey.parse(str(key)) == key


def test_keys_compare_by_value_and_say_what_they_are():
    assert MethodKey.user(Path("/m/x.safetensors")) == MethodKey("user", "/m/x.safetensors")
    assert len({MethodKey.baseline("average"), MethodKey.baseline("average"), DEFAULT}) == 2
    assert MethodKey.baseline("laplacian").is_baseline and not DEFAULT.is_baseline
    assert MethodKey.baseline("laplacian").label == "Laplacian pyramid"
    assert MethodKey.user("/m/tuned.safetensors").path == Path("/m/tuned.safetensors") and DEFAULT.path is None
    assert str(MethodKey.baseline("average")) == "baseline:average" and str(DEFAULT) == "default"


def test_parse_reads_the_old_prefixed_model_keys_and_refuses_nonsense():
    assert MethodKey.parse("model:user:/m/x.safetensors") == MethodKey.user("/m/x.safetensors")
    for text in ("", "bogus", "default:x", "user:", "model:"):
        assert MethodKey.parse(text) is None
    with pytest.raises(ValueError):
        MethodKey("model", "x")  # type: ignore[arg-type]
