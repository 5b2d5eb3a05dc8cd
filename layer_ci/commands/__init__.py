"""The CLI's subcommands, one module each (HELP, add_arguments(), run()), thin over flows and stages."""
