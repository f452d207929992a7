"""The command line: typer commands that call tether.core and render with rich."""
