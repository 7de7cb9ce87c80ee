import numpy as np
import pytest
import torch

from refusion_core.models.checkpoint import dedupe_released_state, load_model, new_bundle, save_model
from refusion_core.errors import WeightsError
from refusion_core.models import FusionNet, LossProposalNet, ReconstructionNet

TASKS = ["IVIF", "MIF", "MFIF", "MEIF"]


def test_fusion_shapes_and_parameter_count():
    f = FusionNet()
    assert sum(p.numel() for p in f.parameters()) == 59_856
    with torch.no_grad():
        out = f(torch.rand(2, 2, 24, 40))
    assert out.shape == (2, 1, 24, 40)
    assert float(out.min()) > 0 and float(out.max()) < 1


def test_reconstruction_and_proposal_shapes():
    x = torch.rand(3, 1, 20, 28)
    ra, rb = ReconstructionNet()(x)
    assert ra.shape == rb.shape == x.shape
    maps = LossProposalNet(zero_init=False)(x, torch.rand_like(x))
    assert maps.shape == (3, 4, 20, 28)
    torch.testing.assert_close(maps[:, 0] + maps[:, 1], torch.ones(3, 20, 28))
    torch.testing.assert_close(maps[:, 2] + maps[:, 3], torch.ones(3, 20, 28))
    assert float(maps.std()) > 0


def test_proposal_starts_at_one_half():
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(LossProposalNet()(x, 1 - x), torch.full((1, 4, 16, 16), 0.5))


@pytest.mark.parametrize("task", TASKS)
def test_released_checkpoint_reproduces_reference(anchors_dir, task):
    bundle = load_model(anchors_dir / f"ReFusion_{task}.pth")
    assert bundle.task == task.lower() and not bundle.has_maps
    ref = np.load(anchors_dir / f"reference_{task}.npz")
    with torch.no_grad():
        out = bundle.fusion(torch.from_numpy(ref["inputs"])).numpy()
    assert np.abs(out - ref["outputs"]).max() < 5e-5


def test_dedupe_rejects_disagreeing_duplicates(tmp_path):
    w = torch.rand(4, 1, 3, 3)
    state = {"x.weight": w, "x.conv.weight": w.clone()}
    assert set(dedupe_released_state(state, tmp_path / "f.pth")) == {"x.weight"}
    state["x.conv.weight"] = w + 1
    with pytest.raises(WeightsError, match="duplicate"):
        dedupe_released_state(state, tmp_path / "f.pth")


def test_project_format_round_trip(tmp_path):
    b = new_bundle("mfif", seed=3)
    path = save_model(tmp_path / "m.safetensors", b, steps=7)
    b2 = load_model(path)
    assert b2.meta["task"] == "mfif" and b2.meta["steps"] == 7 and b2.sha256
    assert b2.parameter_counts() == {"fusion": 59_856, "reconstruction": 7_856, "proposal": 4_510}  # P refusion-p-3
    for k, m in b.modules().items():
        for (n, p), (n2, p2) in zip(m.state_dict().items(), b2.modules()[k].state_dict().items()):
            assert n == n2 and torch.equal(p, p2)


def test_mismatched_and_unreadable_weights(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"project_in_1.weight": torch.rand(3, 3)}, bad)
    with pytest.raises(WeightsError, match="does not fit"):
        load_model(bad)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="not a readable model"):
        load_model(junk)
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_missing_default_weights_say_so(monkeypatch, tmp_path):
    monkeypatch.setenv("REFUSION_RESOURCES", str(tmp_path))
    with pytest.raises(WeightsError, match="No default weights"):
        load_model(None, task="meif")


@pytest.mark.parametrize("prior", [True, False], ids=["p-3", "p-2"])
def test_proposal_is_swap_equivariant(prior):
    """P refusion-p-2 and p-3: exchanging the sources exchanges the maps, so no input is preferred for its
    position (p-3's prior is computed per source, so it keeps the property)."""
    torch.manual_seed(0)
    p = LossProposalNet(zero_init=False, prior=prior)
    if prior:
        torch.nn.init.normal_(p.prior, std=0.1)
    a, b = torch.rand(2, 1, 24, 24), torch.rand(2, 1, 24, 24)
    maps, swapped = p(a, b), p(b, a)
    assert torch.allclose(swapped, maps[:, [1, 0, 3, 2]], atol=1e-6)
    assert (maps[:, 2] - 0.5).abs().max() > 0.01  # and it is not trivially 1/2
    same = p(a, a)
    assert torch.allclose(same, torch.full_like(same, 0.5), atol=1e-6)  # identical sources: no preference
    old = LossProposalNet(zero_init=False, symmetric=False)
    assert not torch.allclose(old(b, a), old(a, b)[:, [1, 0, 3, 2]], atol=1e-3)  # p-1 has no such constraint


def test_a_new_proposal_starts_at_one_half_and_its_prior_prefers_by_features():
    """A new P (p-3) gives maps of exactly 1/2; with only Γ's v-row on local sharpness set, v prefers the sharper
    source everywhere it is sharper, and w is untouched."""
    import cv2
    p = LossProposalNet()
    assert p.arch_version == "refusion-p-3"
    rng = np.random.default_rng(0)
    sharp = torch.from_numpy(cv2.GaussianBlur(rng.random((48, 48), dtype=np.float32), (0, 0), 1.0))[None, None]
    blurred = torch.from_numpy(cv2.GaussianBlur(sharp[0, 0].numpy(), (0, 0), 3.0))[None, None]
    with torch.no_grad():
        assert torch.equal(p(sharp, blurred), torch.full((1, 4, 48, 48), 0.5))
        p.prior[1, 0] = 0.05  # v-logit += 1.5 · log local gradient energy
        maps = p(sharp, blurred)
    assert float(maps[:, 2].min()) > 0.6 and torch.equal(maps[:, 0], torch.full_like(maps[:, 0], 0.5))


@pytest.mark.parametrize("version", ["refusion-p-3", "refusion-p-2", "refusion-p-1"])
def test_every_proposal_design_round_trips(tmp_path, version):
    """Models with P refusion-p-1 (the earlier shipped weights) still load as p-1, p-2 as p-2, p-3 as p-3."""
    torch.manual_seed(1)
    bundle = new_bundle("mfif", seed=1)
    bundle.proposal = LossProposalNet(zero_init=False, symmetric=version != "refusion-p-1",
                                      prior=version == "refusion-p-3")
    if version == "refusion-p-3":
        torch.nn.init.normal_(bundle.proposal.prior, std=0.1)
    path = save_model(tmp_path / "m.safetensors", bundle)
    back = load_model(path, "mfif")
    assert back.proposal.arch_version == version
    assert back.meta["arch"]["proposal"]["version"] == version
    a, b = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    assert torch.equal(back.proposal(a, b), bundle.proposal.eval()(a, b))


def test_damaged_or_non_finite_weights_are_refused(tmp_path):
    """Flipped bytes inside the tensors (safetensors checks the layout, not the values), NaN weights and a
    header that is no object each give one clear WeightsError, never a black or wrong image."""
    import json as _json
    from safetensors.torch import save
    path = save_model(tmp_path / "m.safetensors", new_bundle("ivif", seed=0))
    assert load_model(path).meta["tensors_sha256"]
    data = bytearray(path.read_bytes())
    data[-200:-136] = bytes(b ^ 0xFF for b in data[-200:-136])  # 64 bytes inside the last tensor
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="damaged"):
        load_model(damaged)
    bundle = new_bundle("ivif", seed=0)
    with torch.no_grad():
        bundle.fusion.project_out_1.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(WeightsError, match="NaN or infinite"):
        load_model(save_model(tmp_path / "nan.safetensors", bundle))
    listed = tmp_path / "list.safetensors"
    listed.write_bytes(save({"fusion.x": torch.zeros(1)}, metadata={"refusion": _json.dumps(["a", "list"])}))
    with pytest.raises(WeightsError, match="not a ReFusion Studio model"):
        load_model(listed)


def test_files_without_a_checksum_still_load(tmp_path):
    """Models saved before the checksum existed (the shipped defaults among them) load unchecked."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    path = save_model(tmp_path / "m.safetensors", new_bundle("mfif", seed=0))
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads(fh.metadata()["refusion"])
    del meta["tensors_sha256"]
    save_file(load_file(str(path)), str(tmp_path / "old.safetensors"), metadata={"refusion": json.dumps(meta)})
    assert load_model(tmp_path / "old.safetensors", "mfif").meta["task"] == "mfif"


def perturbed_proposal(version: str, seed: int) -> LossProposalNet:
    """A P of ``version`` with every parameter moved off its start (w and v content-dependent, and different)."""
    torch.manual_seed(seed)
    p = LossProposalNet(symmetric=version != "refusion-p-1", prior=version == "refusion-p-3")
    with torch.no_grad():
        for t in p.parameters():
            t.add_(0.3 * torch.randn_like(t))
    return p


@pytest.mark.parametrize("version", ["refusion-p-1", "refusion-p-2", "refusion-p-3"])
def test_sharpen_scales_the_chosen_logits_and_keeps_the_rest(version):
    """LossProposalNet.sharpen(k, "v"): v becomes softmax(k · d) of P's v-logit difference d (so ½ stays ½ and the
    preferred source stays preferred), w is untouched; "wv" sharpens both; bad arguments are refused."""
    p = perturbed_proposal(version, seed=0)
    ia, ib = torch.rand(1, 1, 24, 20), torch.rand(1, 1, 24, 20)
    before = p(ia, ib).detach()
    d = torch.log(before[:, 2]) - torch.log(before[:, 3])  # v-logit difference
    p.sharpen(3.0, "v")
    after = p(ia, ib).detach()
    torch.testing.assert_close(after[:, :2], before[:, :2])
    torch.testing.assert_close(after[:, 2], torch.sigmoid(3.0 * d), atol=1e-5, rtol=1e-4)
    assert torch.equal(after[:, 2] > 0.5, before[:, 2] > 0.5)
    dw = torch.log(before[:, 0]) - torch.log(before[:, 1])
    p.sharpen(2.0, "wv")
    torch.testing.assert_close(p(ia, ib).detach()[:, 0], torch.sigmoid(2.0 * dw), atol=1e-5, rtol=1e-4)
    for bad in (dict(factor=0.0, maps="v"), dict(factor=2.0, maps="x"), dict(factor=2.0, maps="")):
        with pytest.raises(ValueError):
            p.sharpen(**bad)


@pytest.mark.parametrize("version", ["refusion-p-1", "refusion-p-2", "refusion-p-3"])
def test_tie_w_to_v_makes_w_the_v_map_and_keeps_v(version):
    """LossProposalNet.tie_w_to_v(): afterwards wa = va and wb = vb at every pixel, v as it was (and w had differed);
    with a scale, w = softmax(scale · v-logits)."""
    p = perturbed_proposal(version, seed=1)
    ia, ib = torch.rand(2, 1, 24, 20), torch.rand(2, 1, 24, 20)
    before = p(ia, ib).detach()
    assert (before[:, :2] - before[:, 2:]).abs().max() > 0.05
    p.tie_w_to_v()
    after = p(ia, ib).detach()
    torch.testing.assert_close(after[:, 2:], before[:, 2:])
    torch.testing.assert_close(after[:, :2], after[:, 2:])
    d = torch.log(after[:, 2]) - torch.log(after[:, 3])  # v-logit difference
    p.tie_w_to_v(0.5)  # w leans with v, half as far in logits
    torch.testing.assert_close(p(ia, ib).detach()[:, 0], torch.sigmoid(0.5 * d), atol=1e-5, rtol=1e-4)
