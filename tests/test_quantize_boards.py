"""The board table and the fit check quantize warns with and flash refuses with."""

import pytest

from tinykd.boards import BOARDS, check_fit, fitting_boards, get_board
from tinykd.errors import TinykdError


def test_table_has_the_required_boards_with_consistent_figures():
    for name in ("esp32", "esp32s3", "nano33ble"):
        board = BOARDS[name]
        assert board.name == name
        assert 0 < board.firmware_flash_bytes < board.flash_bytes
        assert 0 < board.firmware_ram_bytes < board.ram_bytes
        assert 0 < board.arena_budget <= board.arena_limit_bytes
        assert board.fqbn.count(":") == 2 and board.pio_board and board.pio_platform
        assert board.sources, f"{name}: figures must say where they come from"


def test_fit_boundary_is_exact():
    board = BOARDS["esp32s3"]
    arena = board.arena_budget
    model = board.model_flash_budget
    assert check_fit(board, model, arena).fits
    over_flash = check_fit(board, model + 1, arena)
    assert not over_flash.fits and any("flash" in p for p in over_flash.problems)
    over_ram = check_fit(board, model, arena + 1)
    assert not over_ram.fits and any("RAM" in p or "arena" in p for p in over_ram.problems)


def test_esp32_static_arena_cap_applies_before_ram_total():
    esp32 = BOARDS["esp32"]
    arena = esp32.arena_limit_bytes + 1
    assert arena + esp32.firmware_ram_bytes <= esp32.ram_bytes  # RAM total alone would allow it
    fit = check_fit("esp32", 10_000, arena)
    assert not fit.fits and any("largest allocatable block" in p for p in fit.problems)
    assert "esp32s3" in fitting_boards(10_000, arena)


def test_unknown_board_and_bad_sizes_are_one_line_errors():
    with pytest.raises(TinykdError, match="unknown board 'uno'.*esp32"):
        get_board("uno")
    with pytest.raises(TinykdError):
        check_fit("esp32", -1, 0)
