"""`tinykd demo`: the whole pipeline on the built-in data, end to end, on a 2-core machine with no network.

built-in data -> tiny Wav2Vec2 teacher -> soft-label cache -> Wav2Tiny (and Wav2Small unless quick) distilled
-> int8 for TFLM -> C arrays and a firmware build folder -> verify on the virtual board.

Every stage writes into its own folder under `out` and is skipped when that folder is already complete, so an
interrupted demo continues where it stopped when run again (`force=True` starts over). The summary lands in
`out/summary.json`, `out/report.md` and `out/summary.png`.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from tinykd.artifacts import CacheDir, Int8Dir, RunDir, TeacherDir
from tinykd.configio import atomic_write_text, load_json, save_json, to_dict
from tinykd.errors import TinykdError

SUMMARY = "summary.json"


@dataclass
class DemoConfig:
    quick: bool = False
    seed: int = 0
    # Built-in data (tinykd.data.synth)
    n_classes: int = 8
    clips_per_class: int = 60
    n_speakers: int = 4
    # Teacher: the `tiny` from-scratch Wav2Vec2
    teacher_epochs: int = 10
    teacher_lr: float = 1e-3  # the peak lr that trained the FSDD teacher (docs/teacher.md)
    # 2 transformer layers: on a few hundred clips the 4-layer default learns no better and costs twice the time.
    teacher_layers: int = 2
    # Students: the presets with a longer hop (the default presets' ~0.4-0.8 MB arenas fit no board).
    students: tuple[str, ...] = ("wav2tiny-64k", "wav2small-64k")
    student_epochs: int = 20
    temperature: float = 2.0
    alpha: float = 0.5
    # The front end stays float: the presets' int8-front-end option fits a 64 KB arena but loses most of the
    # float model's decisions (docs/quantize.md), and a demo should show a faithful int8 model. With a float
    # front end the arena is ~200 KB, which fits the ESP32-S3.
    frontend: str = "float"
    board: str = "esp32s3"
    verify_clips: int = 0  # 0: the whole test split

    @classmethod
    def for_mode(cls, quick: bool, **overrides: Any) -> "DemoConfig":
        base = cls()
        if quick:
            base = replace(base, quick=True, n_classes=6, clips_per_class=40, n_speakers=3, teacher_epochs=6,
                           students=("wav2tiny-64k",), student_epochs=15, verify_clips=24)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class StageTime:
    name: str
    seconds: float
    skipped: bool = False


@dataclass
class DemoResult:
    out: Path
    summary: dict[str, Any]
    stages: list[StageTime] = field(default_factory=list)


class _Stages:
    """Runs named stages in order, timing each and telling the caller what happens."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.times: list[StageTime] = []

    def run(self, name: str, done: bool, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        if done:
            self.log(f"[{len(self.times) + 1}] {name}: already complete, kept")
            result = None
        else:
            self.log(f"[{len(self.times) + 1}] {name} ...")
            result = fn()
        seconds = time.perf_counter() - t0
        self.times.append(StageTime(name, seconds, done))
        if not done:
            self.log(f"    {name} done in {seconds:.1f} s")
        return result


def run_demo(out: str | Path = "demo-out", config: DemoConfig | None = None, *, force: bool = False,
             progress: bool = True, log: Callable[[str], None] = print) -> DemoResult:
    """Run every stage into `out`; see the module docstring."""
    cfg = config or DemoConfig()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TinykdError(f"{out}: exists and is not a folder; pass another --out")
    saved = out / "demo_config.json"
    if force and out.exists():
        shutil.rmtree(out)
    if saved.is_file() and load_json(saved) != to_dict(cfg):
        raise TinykdError(f"{out}: holds a demo run with other settings ({saved}); pass --force to start over "
                          "or another --out")
    out.mkdir(parents=True, exist_ok=True)
    save_json(saved, cfg)

    _require_teacher_extra()
    t_start = time.perf_counter()
    stages = _Stages(log)
    data, teacher, cache = out / "data", out / "teacher", out / "cache"

    stages.run("built-in data", (data / "synth.json").is_file(), lambda: _make_data(data, cfg, progress))
    stages.run("teacher (tiny Wav2Vec2)", _teacher_done(teacher),
               lambda: _train_teacher(data, teacher, cfg, progress, log))
    stages.run("soft-label cache", _cache_done(cache), lambda: _export_cache(data, teacher, cache, progress, log))

    students: list[dict[str, Any]] = []
    for preset in cfg.students:
        run = out / "runs" / preset
        stages.run(f"distill {preset} (T={cfg.temperature:g}, alpha={cfg.alpha:g})", RunDir(run).is_complete(),
                   lambda: _distill(data, cache, run, preset, cfg, progress))
        stages.run(f"quantize {preset} int8 (TFLM)", (run / RunDir.INT8 / Int8Dir.REPORT_JSON).is_file(),
                   lambda: _quantize(run, data, cfg, progress))
        stages.run(f"firmware build folder ({cfg.board}, dry run)",
                   (run / f"firmware-{cfg.board}-arduino-cli").is_dir(), lambda: _flash_dry_run(run, cfg))
        stages.run(f"verify {preset} on the virtual board", (run / RunDir.INT8 / Int8Dir.VERIFY).is_file(),
                   lambda: _verify_on_sim(run, data, cfg))
        students.append(_student_row(run, preset, cfg))

    summary = {
        "config": to_dict(cfg),
        "teacher": _teacher_row(teacher),
        "students": students,
        "stages": [to_dict(s) for s in stages.times],
        "seconds": time.perf_counter() - t_start,
    }
    save_json(out / SUMMARY, summary)
    _summary_plot(summary, out / "summary.png")
    atomic_write_text(out / "report.md", render_report(summary))
    return DemoResult(out, summary, stages.times)


def _require_teacher_extra() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise TinykdError("the demo trains a PyTorch teacher: install the teacher extra "
                          "(pip install 'tinykd[teacher]', torch pinned to 2.13.0)") from None


# -- stages ----------------------------------------------------------------------------------------

def _make_data(data: Path, cfg: DemoConfig, progress: bool) -> None:
    from tinykd.data.synth import SynthConfig, synthesize

    if data.exists():
        shutil.rmtree(data)  # an unfinished set (no synth.json): make it again, it takes seconds
    synthesize(data, SynthConfig(n_classes=cfg.n_classes, clips_per_class=cfg.clips_per_class,
                                 n_speakers=cfg.n_speakers, seed=cfg.seed), progress=progress)


def _teacher_done(teacher: Path) -> bool:
    return TeacherDir(teacher).is_complete()


def _train_teacher(data: Path, teacher: Path, cfg: DemoConfig, progress: bool, log) -> None:
    from tinykd.teacher.config import TeacherTrainConfig, TinyTeacherSize
    from tinykd.teacher.train import train_teacher

    size = TinyTeacherSize(num_hidden_layers=cfg.teacher_layers)
    train_teacher(data, teacher, TeacherTrainConfig(base="tiny", epochs=cfg.teacher_epochs, lr=cfg.teacher_lr,
                                                    seed=cfg.seed, tiny=size), progress=progress, log=log)


def _cache_done(cache: Path) -> bool:
    return CacheDir(cache).is_complete()


def _export_cache(data: Path, teacher: Path, cache: Path, progress: bool, log) -> None:
    from tinykd.teacher.export import export_cache

    export_cache(data, teacher, cache, progress=progress, log=log)


def _distill(data: Path, cache: Path, run: Path, preset: str, cfg: DemoConfig, progress: bool) -> None:
    from tinykd.distill.config import DistillConfig
    from tinykd.distill.run import distill

    dc = DistillConfig(student=preset, temperature=cfg.temperature, alpha=cfg.alpha, epochs=cfg.student_epochs,
                       seed=cfg.seed)
    # An interrupted run left checkpoints: continue from the last good one.
    distill(data, dc, run, cache=cache, resume=run.exists(), show_progress=progress)


def _quantize(run: Path, data: Path, cfg: DemoConfig, progress: bool) -> None:
    from tinykd.quantize import QuantizeConfig, quantize_run

    quantize_run(run, data, config=QuantizeConfig(frontend=cfg.frontend, board=cfg.board), show_progress=progress)


def _flash_dry_run(run: Path, cfg: DemoConfig) -> None:
    from tinykd.device.flash import FlashOptions, flash

    flash(FlashOptions(board=cfg.board, model=run, dry_run=True), echo=lambda s: None)


def _verify_on_sim(run: Path, data: Path, cfg: DemoConfig) -> None:
    """Start a virtual board (the firmware's C core + TFLM) on a pseudo-terminal and verify against it."""
    from tinykd.device.model import load_device_model
    from tinykd.device.sim import VirtualBoard
    from tinykd.device.verify import VerifyOptions, verify

    board = VirtualBoard(load_device_model(run), mode="verify")
    board.boot()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            board.step()

    thread = threading.Thread(target=serve, name="virtual-board", daemon=True)
    thread.start()
    try:
        report = verify(board.port, run, data, "test", VerifyOptions(limit=cfg.verify_clips or None))
    finally:
        stop.set()
        thread.join(5)
        board.close()
    if not report.passed:
        raise TinykdError(f"{run}: the virtual board agreed with the host on only {100 * report.agreement:.1f} % "
                          f"of clips; see {report.report_file}")


# -- summary ---------------------------------------------------------------------------------------

def _teacher_row(teacher: Path) -> dict[str, Any]:
    meta = TeacherDir(teacher).meta()
    return {"name": "teacher (tiny Wav2Vec2)", "params": meta.get("n_params"), "accuracy": meta.get("test_accuracy")}


def _student_row(run: Path, preset: str, cfg: DemoConfig) -> dict[str, Any]:
    metrics = load_json(run / RunDir.METRICS)
    q = RunDir(run).int8_dir().report()
    v = load_json(RunDir(run).int8_dir() / Int8Dir.VERIFY)
    acc = q["accuracy"]
    return {
        "name": preset,
        "run": str(run),
        "params": metrics["training"]["params"],
        "accuracy": metrics["accuracy"],
        "int8_accuracy": acc["int8_tflm_accuracy"],
        "float_accuracy_quantize": acc["float_accuracy"],
        "agreement_float_int8": acc["agreement_float_tflm"],
        "flatbuffer_bytes": q["model"]["bytes"],
        "arena_bytes": q["arena"]["bytes"],
        "board": cfg.board,
        "board_agreement": v["agreement"],
        "board_clips": v["answered"],
        "seconds_per_epoch": metrics["training"]["seconds_per_epoch"],
    }


def _pct(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100.0 * fraction:.1f} %"


def _fmt(value: Any, spec: str = ".1f", unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def summary_rows(summary: dict[str, Any]) -> list[list[str]]:
    """The final table: teacher vs students."""
    t = summary["teacher"]
    rows = [[t["name"], _fmt(t["params"], ","), _pct(t["accuracy"]), "-", "-", "-", "-"]]
    for s in summary["students"]:
        rows.append([s["name"], _fmt(s["params"], ","), _pct(s["accuracy"]), _pct(s["int8_accuracy"]),
                     _fmt(s["flatbuffer_bytes"] / 1024, ".1f"), _fmt(s["arena_bytes"] / 1024, ".1f"),
                     f"{_pct(s['board_agreement'])} of {s['board_clips']}"])
    return rows


SUMMARY_HEADER = ["model", "params", "test acc (float)", "test acc (int8, TFLM)", "flatbuffer KB", "arena KB",
                  "agreement with the (virtual) board"]


def render_report(summary: dict[str, Any]) -> str:
    cfg = summary["config"]
    lines = [
        "# tinykd demo",
        "",
        f"Built-in synthetic data: {cfg['n_classes']} classes x {cfg['clips_per_class']} clips, "
        f"{cfg['n_speakers']} speakers. Students distilled with T={cfg['temperature']:g}, alpha={cfg['alpha']:g}; "
        f"int8 body for TFLM with a {cfg['frontend']} front end, firmware generated for {cfg['board']}; verified on the virtual board (`tinykd sim`: the firmware's C core + the TFLM "
        f"interpreter), not on real hardware. Total time {summary['seconds'] / 60:.1f} min.",
        "",
        "| " + " | ".join(SUMMARY_HEADER) + " |",
        "|" + "---|" * len(SUMMARY_HEADER),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in summary_rows(summary)]
    lines += ["", "![summary](summary.png)", "", "## Stages", "", "| stage | seconds | |", "|---|---|---|"]
    lines += [f"| {s['name']} | {s['seconds']:.1f} | {'kept from an earlier run' if s['skipped'] else ''} |"
              for s in summary["stages"]]
    for s in summary["students"]:
        rel = Path(s["run"]).relative_to(Path(s["run"]).parents[1])
        lines += ["", f"## {s['name']}", "",
                  f"Run folder `{rel}`: report `report.md`, quantization report `int8/report.md`, C sources "
                  f"`int8/model_data.h/.cc`, firmware folder `firmware-{s['board']}-arduino-cli/`.",
                  "", f"![curves]({rel}/training_curves.png)", f"![confusion]({rel}/confusion_matrix.png)"]
    return "\n".join(lines) + "\n"


def _summary_plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [summary["teacher"]["name"]] + [s["name"] for s in summary["students"]]
    float_acc = [100.0 * (summary["teacher"]["accuracy"] or 0.0)] + [100.0 * s["accuracy"] for s in summary["students"]]
    int8_acc = [np.nan] + [100.0 * s["int8_accuracy"] for s in summary["students"]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.8 + 1.8 * len(names), 3.6))
    ax.bar(x - 0.2, float_acc, 0.4, label="float")
    ax.bar(x + 0.2, int8_acc, 0.4, label="int8 (TFLM)")
    for xi, (f, q) in enumerate(zip(float_acc, int8_acc)):
        ax.text(xi - 0.2, f + 1, f"{f:.0f}", ha="center", fontsize=8)
        if not np.isnan(q):
            ax.text(xi + 0.2, q + 1, f"{q:.0f}", ha="center", fontsize=8)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, 120)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("tinykd demo: teacher vs students")
    ax.legend(loc="upper right", fontsize=8, ncols=2)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
