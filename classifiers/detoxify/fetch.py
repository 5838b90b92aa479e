"""Download a Detoxify model once into a folder that then loads with no network.

    python -m classifiers.detoxify.fetch original /opt/safety-proxy/detoxify [--onnx int8]

writes ``<folder>/<model>/checkpoint.ckpt`` (Detoxify's published weights) and
``<folder>/<model>/hf/`` (the transformer config and tokenizer the checkpoint names), then
prints the check options that use them. ``--onnx none|int8`` also makes the ONNX export
into ``<folder>/onnx-cache`` so a container built with it starts without exporting.
Used by the Dockerfile's ``DETOXIFY_MODEL`` build argument.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, get_args

from classifiers.detoxify.options import ModelName


def fetch(model: str, into: Path, *, checkpoint_url: str | None = None,
          hub_name: str | None = None) -> dict[str, str]:
    """Returns the options (checkpoint, huggingface_config_path) for the fetched files."""
    import torch
    from detoxify.detoxify import MODEL_URLS

    target = into / model
    (target / "hf").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download_dir:
        state = torch.hub.load_state_dict_from_url(
            checkpoint_url or MODEL_URLS[model], model_dir=download_dir, map_location="cpu",
            weights_only=False, progress=False)
        [downloaded] = Path(download_dir).iterdir()
        shutil.move(downloaded, target / "checkpoint.ckpt")
    arch = state["config"]["arch"]["args"]
    save_config_and_tokenizer(arch, hub_name or arch["model_type"], target / "hf")
    return {"model": model, "checkpoint": str(target / "checkpoint.ckpt"),
            "huggingface_config_path": str(target / "hf")}


def save_config_and_tokenizer(arch: dict[str, Any], source: str, folder: Path) -> None:
    import transformers

    model_class = getattr(transformers, arch["model_name"])
    model_class.config_class.from_pretrained(source).save_pretrained(folder)
    getattr(transformers, arch["tokenizer_name"]).from_pretrained(source).save_pretrained(folder)


async def warm_onnx_cache(options: dict[str, str], quantize: str, cache: Path) -> None:
    from classifiers.detoxify import DetoxifyClassifier

    classifier = DetoxifyClassifier("fetch", {**options, "runtime": "onnx",
                                              "quantize": quantize, "onnx_cache_dir": str(cache)})
    await classifier.start()
    await classifier.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", choices=get_args(ModelName))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--onnx", choices=("none", "int8"), help="also export for ONNX Runtime")
    args = parser.parse_args(argv)
    try:
        options = fetch(args.model, args.folder)
    except Exception as exc:  # a build step: one line saying what failed is enough
        raise SystemExit(f"detoxify fetch {args.model}: {type(exc).__name__}: {exc} "
                         "(this needs internet access to the model downloads)") from None
    if args.onnx:
        options["onnx_cache_dir"] = str(args.folder / "onnx-cache")
        asyncio.run(warm_onnx_cache(options, args.onnx, Path(options["onnx_cache_dir"])))
        options.update(runtime="onnx", quantize=args.onnx)
    print(json.dumps(options, indent=2))


if __name__ == "__main__":
    main()
