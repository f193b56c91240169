"""What the command line hands the app: a `Launch` with the settings resolved, built from one list
of override flags."""

from __future__ import annotations

from notifier.cli import build_parser
from notifier.commands.settings_flags import OVERRIDE_FLAGS, launch_from_args
from notifier.core import paths

SAMPLE = {
    "--protocol": "amqp", "--url": "amqp://127.0.0.1:9/", "--shop": "noodle", "--admin-url": "http://127.0.0.1:9",
    "--admin-user": "admin", "--queue": "orders", "--ca-file": "/etc/ssl/certs/ca-certificates.crt",
}


def launch_of(*argv: str):
    return launch_from_args(build_parser().parse_args(list(argv)))


def test_nothing_on_the_command_line_is_the_saved_settings_and_no_override():
    launch = launch_of()
    assert not launch.has_overrides and not launch.demo
    assert launch.config_path == paths.config_file()
    assert launch.connection_settings(launch.settings) is launch.settings


def test_every_override_flag_changes_its_setting_and_counts_as_an_override():
    # The app asks for settings on a first run unless the command line set something: every
    # flag counts (the app's own copy of this list had lost --queue).
    assert set(SAMPLE) == {flag for flag, _key, _options in OVERRIDE_FLAGS}
    for flag, key, _options in OVERRIDE_FLAGS:
        for argv in ([flag, SAMPLE[flag]], ["listen", flag, SAMPLE[flag]]):
            launch = launch_of("--protocol", "amqp", *argv) if flag != "--protocol" else launch_of(*argv)
            assert launch.has_overrides, argv
            assert launch.settings[key] == SAMPLE[flag], argv


def test_set_items_before_and_after_the_subcommand_both_count_in_order():
    launch = launch_of("--set", "connection.ping_interval=30", "listen", "--set", "connection.ping_timeout=7",
                       "--set", "connection.ping_interval=40")
    assert (launch.settings["connection.ping_interval"], launch.settings["connection.ping_timeout"]) == (40, 7)
    assert launch.has_overrides


def test_a_config_file_is_an_override_and_is_read(tmp_path):
    config = tmp_path / "shop.toml"
    config.write_text('[connection]\nshop = "dumplings"\n', encoding="utf-8")
    launch = launch_of("--config", str(config), "--demo")
    assert launch.has_overrides and launch.demo and launch.config_path == config
    assert launch.settings["connection.shop"] == "dumplings"
