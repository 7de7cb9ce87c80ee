"""scripts/train_defaults.py: a shipped model's card lists every training stage that made it, read back through
each model's recorded ``init`` (and through a shipped model's own lineage when one is refined again)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from refusion_core.models.checkpoint import load_model, new_bundle, save_model
from refusion_core.training.settings import TrainSettings


@pytest.fixture
def td(repo_module):
    return repo_module("scripts", "train_defaults")


def stage(path: Path, preset: str, steps: int, init: str, **extra) -> Path:
    bundle = new_bundle("meif", seed=0)
    bundle.meta.update(steps=steps, settings=TrainSettings.preset(preset).to_dict())
    bundle.meta["provenance"] = {"init": init, "wall_time_s": steps / 2, "date": "2026-11-25", **extra}
    return save_model(path, bundle)


def test_lineage_follows_each_models_init(td, tmp_path):
    base = stage(tmp_path / "base.safetensors", "cpu-hour", 4600, "random", hardware="box A")
    first = stage(tmp_path / "r1.safetensors", "cpu-refine", 1100, str(base))
    stages = td.lineage("meif", first)
    assert [(s["preset"], s["steps"], s["lr_schedule"]) for s in stages] == [
        ("cpu-hour", 4600, "constant"), ("cpu-refine", 1100, "cosine")]
    assert stages[0]["hardware"] == "box A"

    shipped = load_model(first, "meif")  # as ship() writes it: the stages go into the model itself
    shipped.meta["provenance"]["lineage"] = stages
    shipped_path = save_model(tmp_path / "shipped.safetensors", shipped)
    base.unlink()  # a shipped model no longer needs the files it came from
    second = stage(tmp_path / "r2.safetensors", "cpu-refine", 1100, str(shipped_path))
    assert [s["steps"] for s in td.lineage("meif", second)] == [4600, 1100, 1100]


def test_lineage_says_when_a_stage_is_gone(td, tmp_path):
    orphan = stage(tmp_path / "r1.safetensors", "cpu-refine", 1100, str(tmp_path / "gone.safetensors"))
    with pytest.raises(SystemExit, match="gone"):
        td.lineage("meif", orphan)


def test_the_tensor_hash_ignores_metadata_and_sees_weights(td, tmp_path):
    path = stage(tmp_path / "m.safetensors", "cpu-hour", 10, "random")
    bundle = load_model(path, "meif")
    bundle.meta["provenance"]["hardware"] = "another box"  # what re-shipping changes
    reshipped = load_model(save_model(tmp_path / "m2.safetensors", bundle), "meif")
    assert reshipped.sha256 != load_model(path, "meif").sha256
    assert td.tensors_sha256(reshipped) == td.tensors_sha256(load_model(path, "meif"))
    with torch.no_grad():
        next(reshipped.proposal.parameters()).add_(1e-3)
    assert td.tensors_sha256(reshipped) != td.tensors_sha256(load_model(path, "meif"))


def test_shipping_records_the_held_out_pairs(td, tmp_path, monkeypatch):
    import json

    manifest = tmp_path / "manifest.json"
    entries = [{"a": f"a/{i}.png", "b": f"b/{i}.png", "split": "train"} for i in range(5)]
    manifest.write_text(json.dumps({"mfif/mfifb": {"pairs": entries + [dict(entries[0], split="test")]}}))
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"pairs": [[e["a"], e["b"]] for e in entries[:3]]}))
    stage(run / "model.safetensors", "cpu-hour", 10, "random")
    monkeypatch.setattr(td, "REPO", tmp_path)  # ship into tmp_path/resources/weights, not the repository
    (tmp_path / "resources" / "weights").mkdir(parents=True)
    prov = load_model(td.ship("mfif", run, manifest), "mfif").meta["provenance"]
    assert prov["holdout"] == 2 and "3 of its 5 pairs" in prov["data"]
    assert [s["steps"] for s in prov["lineage"]] == [10]


def test_the_card_says_how_w_was_trained(td):
    """A stage's settings on the card name w held at ½ or w following v (TrainSettings.fixed_w, tie_w), and neither
    where P learnt w."""
    def line(**settings) -> str:
        return td.stage_settings(td.stage_record({"settings": TrainSettings.preset("quick", **settings).to_dict()}))

    assert "w following v (TrainSettings.tie_w)" in line(tie_w=1.0)
    assert "w following v at 0.5 × its logits" in line(tie_w=0.5)
    assert "w held at ½" in line(fixed_w=True) and "following" not in line(fixed_w=True)
    assert "w held" not in line() and "following" not in line()


def test_the_card_says_why_the_campaign_replaced_the_default(td):
    """The campaign's changes and the hold-out's reason for shipping (scripts/campaign.py) reach the card; a model
    from before the campaign has neither."""
    prov = {"changes": ["2026-12-06: state = compare candidate 'w-follows-v-slow'"],
            "shipped_because": "3/6 paper metrics (a tie), mean relative gain +0.32%, and it meets the target the "
                               "default misses: focus stack"}
    text = td.campaign_lines("mfif", prov)
    assert "campaign/mfif/plan.json's history" in text and "w-follows-v-slow" in text
    assert text.rstrip().endswith("focus stack.") and "Replaced the previous default because" in text
    assert td.campaign_lines("mfif", {}) == ""
