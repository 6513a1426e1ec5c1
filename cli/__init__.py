"""The `stallguard` command: thin Typer groups (data, model, serve) composed in `cli.app`.

Each command parses and checks its arguments, reads the settings, calls the packages, and
renders what they return (`cli.render`). Nothing imports this package; it imports the rest.
"""
