"""fetch: download once into a folder that then loads offline (a file:// URL stands in for
the release download, the tiny model's folder for the hub)."""

from __future__ import annotations

import pytest

from classifiers import registry
from classifiers.detoxify.fetch import fetch, warm_onnx_cache
from tests.classifiers.detoxify_fixtures import tiny_detoxify

pytest.importorskip("torch")
pytest.importorskip("detoxify")


async def test_fetched_files_load_offline_with_the_printed_options(tmp_path):
    tiny = tiny_detoxify()
    options = fetch("original", tmp_path / "weights", checkpoint_url=tiny.checkpoint.as_uri(),
                    hub_name=str(tiny.config_dir))
    assert options["checkpoint"] == str(tmp_path / "weights" / "original" / "checkpoint.ckpt")
    classifier = registry.build("detoxify", "tox", options)
    await classifier.start()
    try:
        reference = registry.build("detoxify", "ref", tiny.options())
        await reference.start()
        text = ["you are a complete idiot"]
        assert await classifier.classify(text) == await reference.classify(text)
        await reference.close()
    finally:
        await classifier.close()


async def test_the_onnx_cache_can_be_made_at_build_time(tmp_path):
    pytest.importorskip("onnxruntime")
    cache = tmp_path / "onnx-cache"
    await warm_onnx_cache(tiny_detoxify().options(), "int8", cache)
    [folder] = cache.iterdir()
    assert sorted(path.name for path in folder.iterdir()) == ["model.int8pc7.onnx", "model.onnx"]
