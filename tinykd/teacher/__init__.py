"""The teacher: a Hugging Face audio classifier (Wav2Vec2 tested) fine-tuned in PyTorch, and its soft labels.

- `tinykd.teacher.train`: `train_teacher(...)` fine-tunes a hub model, a local directory or a `tiny`
  from-scratch Wav2Vec2 on a dataset's training split.
- `tinykd.teacher.export`: `export_cache(...)` runs the teacher once over every clip and writes the cache.
- `tinykd.teacher.cache`: `SoftLabelCache` reads that cache; it never imports torch or transformers, so
  the Keras side can use it in a process without the `teacher` extra.
- `tinykd.teacher.rollout`: attention rollout (numpy), the 1-D temporal weights stored per clip.

This package's `__init__` imports nothing heavy on purpose: importing `tinykd.teacher.cache` must not
pull in torch.
"""
