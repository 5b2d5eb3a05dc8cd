"""One module per layer-ci subcommand; each exposes HELP, add_arguments() and run()."""
