"""The one WxH parser: width first on the command line, (height, width) out; clear errors."""

import pytest

from minisora.sizes import parse_dims, parse_size


def test_width_first_in_height_first_out():
    assert parse_size("80x48") == (48, 80) and parse_size(" 64 X 32 ") == (32, 64) and parse_size("16×8") == (8, 16)
    assert parse_dims("17x64x48", ("FRAMES", "HEIGHT", "WIDTH"), "17x64x64") == (17, 64, 48)


@pytest.mark.parametrize("bad", ["64", "64x", "x64", "64x64x1", "-64x64", "0x64", "64.5x64", "axb", ""])
def test_bad_sizes_name_the_valid_form(bad):
    with pytest.raises(ValueError, match=r"invalid size .*(WIDTHxHEIGHT|must be >= 1)"):
        parse_size(bad)


def test_every_cli_uses_it():
    import argparse

    from minisora.generate_cli import parse_size as generate_size
    from minisora.serve.spec import ModelSpec
    from minisora.train.data import parse_bucket

    assert generate_size("80x48") == (80, 48)  # argparse keeps --size as (width, height)
    with pytest.raises(argparse.ArgumentTypeError, match="WIDTHxHEIGHT"):
        generate_size("80by48")
    assert ModelSpec.height_width("80x48") == (48, 80)
    assert parse_bucket("17x64x48=5") == ((17, 64, 48), 5)
