"""`prepare_output`, the one rule for an existing output folder, on every kind (issue 13): --force replaces only
a folder of the same kind and says so, never a link, a file or a folder that holds one of the command's inputs;
a folder holding nothing but tinykd's marker (a command stopped before writing) counts as empty."""

from __future__ import annotations

import pytest

from tinykd.artifacts import (KINDS, CacheDir, DemoDir, RunDir, SweepDir, SynthDir, TeacherDir, check_output,
                              describe_folder, prepare_output)
from tinykd.errors import TinykdError


def _made(cls, path):
    folder = cls(path)
    folder.mark()
    (path / "content.bin").write_bytes(b"x")
    return folder


@pytest.mark.parametrize("cls", list(KINDS.values()), ids=list(KINDS))
def test_force_replaces_only_the_same_kind_and_says_what_it_replaced(cls, tmp_path):
    folder = _made(cls, tmp_path / "same")
    resuming, replaced = prepare_output(folder, force=True)
    assert not resuming and replaced == f"replaced the tinykd {cls.kind} folder {folder.path} (2 entries deleted)"
    assert sorted(p.name for p in folder.path.iterdir()) == ["tinykd.json"] and folder.is_own_kind()
    for other in KINDS.values():
        if other is cls:
            continue
        theirs = _made(other, tmp_path / f"other-{other.kind}")
        with pytest.raises(TinykdError, match=rf"not a tinykd {cls.kind} folder \(a tinykd {other.kind} folder\); "
                                              "refusing to delete it with --force"):
            prepare_output(cls(theirs.path), force=True)
        assert (theirs.path / "content.bin").is_file()


def test_signature_files_of_folders_made_before_markers(tmp_path):
    for cls, name, text in ((SynthDir, "synth.json", '{"generator": "tinykd.data.synth"}'),
                            (SweepDir, "sweep.json", "{}"), (DemoDir, "demo_config.json", "{}"),
                            (TeacherDir, "tinykd_teacher.json", "{}"),
                            (CacheDir, "meta.json", '{"format": "tinykd-softlabels"}')):
        (tmp_path / cls.kind).mkdir()
        (tmp_path / cls.kind / name).write_text(text)
        assert cls(tmp_path / cls.kind).is_own_kind(), cls
        assert describe_folder(tmp_path / cls.kind) == f"a tinykd {cls.kind} folder"
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "meta.json").write_text("[1, 2]")  # a list, not an object: not a cache, no traceback
    assert not CacheDir(tmp_path / "odd").is_own_kind()


def test_refusals_are_one_line_and_touch_nothing(tmp_path):
    run = _made(RunDir, tmp_path / "run")
    with pytest.raises(TinykdError, match="run folder exists; use --resume to continue it or --force to start over"):
        prepare_output(run)
    with pytest.raises(TinykdError, match="teacher folder exists; use --force to replace it$"):
        prepare_output(_made(TeacherDir, tmp_path / "t"), resumable=False)
    (tmp_path / "link").symlink_to(run.path, target_is_directory=True)
    with pytest.raises(TinykdError, match="is a symbolic link"):
        prepare_output(RunDir(tmp_path / "link"), force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(TinykdError, match="exists and is not a folder"):
        check_output(RunDir(tmp_path / "file"))
    (run.path / "data").mkdir()
    with pytest.raises(TinykdError, match=r"--force would delete .*data, an input of this command"):
        prepare_output(run, force=True, inputs=[run.path / "data"])
    with pytest.raises(TinykdError, match="--resume or --force, not both"):
        prepare_output(run, resume=True, force=True)
    assert (run.path / "content.bin").is_file() and (run.path / "data").is_dir()


def test_a_folder_holding_only_the_marker_counts_as_empty(tmp_path):
    """A command that created and marked its output, then stopped on bad data, must not poison the next try."""
    RunDir(tmp_path / "r").mark()
    assert prepare_output(RunDir(tmp_path / "r")) == (False, None)
    assert prepare_output(TeacherDir(tmp_path / "r")) == (False, None)  # nothing in it to protect


def test_a_folder_killed_while_its_marker_was_written_counts_as_empty(tmp_path):
    """A kill between the marker's temp file and its rename (seen when a protocol was killed under load) leaves
    only that temp file: the next run starts there, while any other file still makes the folder someone's."""
    out = tmp_path / "sweep"
    out.mkdir()
    (out / ".tinykd.json.k2j4x9ab.tmp").write_text("{")
    assert prepare_output(SweepDir(out), resume=True) == (False, None)
    assert (out / "tinykd.json").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / ".tinykd.json.k2j4x9ab.tmp").write_text("{")
    (other / "notes.txt").write_text("mine")
    with pytest.raises(TinykdError, match="not a tinykd sweep folder"):
        prepare_output(SweepDir(other), resume=True)
