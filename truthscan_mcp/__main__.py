"""`python -m truthscan_mcp` works like the `truthscan-mcp` command."""

from .cli import main

if __name__ == "__main__":
    main()
