"""Serving for Hugging Face sequence-classification models, shared by their families.

``type: detoxify`` and ``type: transformers`` load a model their own way into a
:class:`~classifiers.sequence.loaded.LoadedModel`; everything after is here and model-agnostic:
options.py (the serving options), encoding.py and windows.py (texts to overlapping token
windows, padded batches), engine.py (encoder + runtime), torch_runtime.py and
onnx_runtime.py (the runtimes, with sigmoid or softmax from activation.py), batcher.py with
inbox.py, pool.py, pending.py and scheduling.py (micro-batching: one thread tokenizes, one
runs the model), and
classifier.py (start, warm-up, classify, close).
"""
