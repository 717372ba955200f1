"""Command line: argument parsing and printing live here and nowhere else in the package."""

from assistant.cli.main import build_parser, main, settings_from

__all__ = ["build_parser", "main", "settings_from"]
