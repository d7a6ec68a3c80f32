"""truthscan-mcp: is this image AI-generated, and why? — TruthScan for MCP clients."""

__version__ = "0.1.0"
