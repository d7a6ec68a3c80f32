"""`python -m truthscan_mcp` works like the `truthscan-mcp` command."""

from truthscan_mcp.cli.main import main

if __name__ == "__main__":
    main()
