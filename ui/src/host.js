// The host side of MCP Apps for the browser test: the official AppBridge, exposed to a plain page.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

globalThis.McpAppsHost = { AppBridge, PostMessageTransport };
