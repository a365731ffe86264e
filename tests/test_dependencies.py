"""The declared dependency floors: no version with a published server advisory."""

from __future__ import annotations

import configparser
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"


def requirement(name: str) -> Requirement:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    lines = config["options"]["install_requires"].strip().splitlines()
    found = [Requirement(line) for line in lines if Requirement(line).name == name]
    assert len(found) == 1, f"{name} is required once in setup.cfg"
    return found[0]


def test_aiohttp_floor_excludes_versions_with_server_advisories() -> None:
    # 3.14.3 and older are covered by GHSA-2g87-pp6c-29x5 (unbounded memory and CPU on
    # some inputs) and earlier server advisories; 3.14.4 is the first release without them.
    specifier = requirement("aiohttp").specifier
    for affected in ("3.10.0", "3.13.5", "3.14.0", "3.14.3"):
        assert not specifier.contains(affected), f"setup.cfg admits aiohttp {affected}"
    assert specifier.contains("3.14.4")


def test_installed_aiohttp_satisfies_the_floor() -> None:
    assert requirement("aiohttp").specifier.contains(version("aiohttp"))
