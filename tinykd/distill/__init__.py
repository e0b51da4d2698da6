"""Knowledge distillation: KD loss, training loop, augmentation, metrics, plots, reports, evaluate, sweep.

    from tinykd.distill.config import DistillConfig
    from tinykd.distill.run import distill
    result = distill("data/", DistillConfig(student="wav2tiny", temperature=2, alpha=0.5), "runs/t2a05", cache="cache/")

Modules import TensorFlow lazily where they can, so `metrics` and `config` stay light.
"""
