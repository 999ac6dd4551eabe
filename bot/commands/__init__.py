"""The command-line subcommands other than `serve`, one module each."""
