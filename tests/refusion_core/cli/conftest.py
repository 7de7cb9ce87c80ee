"""What the CLI tests share: a small model file and the check that an error is one line."""

import pytest

from refusion_core.models.checkpoint import new_bundle, save_model


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A fresh ivif model (seed 0) saved once per test module."""
    return save_model(tmp_path_factory.mktemp("w") / "m.safetensors", new_bundle("ivif", seed=0))


def error_line(capsys) -> str:
    """The one line the CLI wrote to stderr, which must start with "refusion: error: "."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("refusion: error: "), err
    return err[0]
