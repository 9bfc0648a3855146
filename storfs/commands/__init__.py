"""Subcommands: each module has NAME, HELP, EXAMPLES, `configure(parser)` and `run(args) -> int`."""
