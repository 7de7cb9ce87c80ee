"""The training dialog's time estimate comes from a measured plain and meta step (app.core.engine)."""

import tempfile
from pathlib import Path

import torch

from app.core import engine


def tiny_pairs(images):
    return [(images["dir_a"] / f"s{i}.png", images["dir_b"] / f"s{i}.jpg") for i in range(2)]


def test_a_plain_and_a_meta_step_are_measured_on_tiny_images(images):
    settings = engine.train_settings("quick", crop=16, batch=1)
    plain_s, meta_s = engine.measure_step_seconds(settings, tiny_pairs(images), "ivif", "cpu")
    assert 0 < plain_s < 60 and 0 < meta_s < 60


def test_the_measurement_stops_between_steps_and_leaves_nothing(images):
    threads = torch.get_num_threads()
    before = set(Path(tempfile.gettempdir()).glob("refusion-timing-*"))
    timings = engine.step_timings(engine.train_settings("quick", crop=16, batch=1), tiny_pairs(images), "ivif", "cpu")
    next(timings)  # the trainer is built
    next(timings)  # one step done
    timings.close()  # as a worker's abort does
    assert set(Path(tempfile.gettempdir()).glob("refusion-timing-*")) == before
    assert torch.get_num_threads() == threads
