"""The same errors, in the words of a terminal.

Every layer below raises the one error tree of `truthscan_mcp.errors`, written for the reader
an MCP server has: an assistant that passes `path`, `url` or `data` and calls tools. A person at
a shell has arguments, options and commands instead. The error (its type, its code, the facts in
it) stays; only the instructions are reworded, here, in one table, so a new message that
slips through is one line to add (tests/e2e/test_terminal.py looks for the MCP words).
"""

from __future__ import annotations

import re

#: (pattern, replacement), applied in order; the longer, more specific phrases first
_REWORDS: tuple[tuple[str, str], ...] = (
    (r" The file must exist on the machine running this MCP server; otherwise pass [^.]*\.", ""),
    (r"this server's working directory", "the current directory"),
    # the path shown is already absolute: in a shell the current directory is the expected one
    (
        r" A relative path is resolved against the current directory \([^)]*\); "
        r"pass an absolute path instead\.",
        "",
    ),
    # there is no health command: the status page is where a person looks
    (r"; the health tool shows (?:when it is back|whether TruthScan is reachable)\.", "."),
    (r": the health tool shows its state\.", "."),
    (r"check the health tool and TruthScan's status page", "check TruthScan's status page"),
    (r"check the health tool", "check TruthScan's status page"),
    (r"The directory ", "The folder "),
    (r"the directories this server may read", "the folders this command may read (--allowed-dirs)"),
    (
        r"or add the folder to --allowed-dirs \(one or more folders\) and restart the server",
        "or add it with --allowed-dirs DIR",
    ),
    (
        r"or set TRUTHSCAN_ALLOWED_DIRS \(a list separated by '(.)'\) to add one",
        r"or add its folder with --allowed-dirs DIR (or TRUTHSCAN_ALLOWED_DIRS, separated by '\1')",
    ),
    (r"restart the server with --allow-private-urls", "run again with --allow-private-urls"),
    (r"set TRUTHSCAN_ALLOW_PRIVATE_URLS=true to allow it", "run again with --allow-private-urls"),
    (r"in the MCP server's environment", "in your environment"),
    (r"readable by the user running this server, or pass the image as `data`", "readable for your user"),
    (r"pass (?:it|the image) as `path` or `data`", "give its file path"),
    (r"pass the image as `path` or `url` instead", "give its file path or URL instead"),
    (r"pass it as `data` instead", "pipe its bytes to `truthscan-mcp detect -` instead"),
    (r"pass it as `path` instead", "give the file's path instead"),
    (r"For a remote image pass an http\(s\) `url`", "For a remote image give its http(s) URL"),
    (r"for a local file use `path`", "for a local file give its path"),
    (r"pass files as `paths` instead", "name the files instead"),
    (r"point `directory` at the folder", "name the folder"),
    (r"The `url`", "The URL"),
    (r"The inline `data`", "The image on stdin"),
    (r"Call check_credits(?: to see the balance)?", "Check your balance in the TruthScan dashboard"),
    (r"(?:call|run) check_credits(?: to see the balance)?", "check your balance in the TruthScan dashboard"),
    (r"running detect_image again", "running the command again"),
    (r"as returned by detect_image", "as `truthscan-mcp detect` prints it"),
    (
        r"\(it comes from detect_image\), or run detect_image again",
        "(`truthscan-mcp detect` prints it), or run `truthscan-mcp detect` on the image again",
    ),
    (r"then export_report again", "then run this again"),
    (
        r"(?:try |call )?get_result(?: again)?(?: with (?:this|the|each unfinished) id)?",
        "`truthscan-mcp report ID`",
    ),
    (r"call detect_images again with allow_partial=true", "run again with --allow-partial"),
    (r"\(allow_partial\)", "(--allow-partial)"),
    (r"add recursive=true for subdirectories", "add --recursive for subfolders"),
    (r"this MCP server", "this command"),
    (r"the MCP server", "this command"),
    (r"this server", "this command"),
)
_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in _REWORDS)


def terminal_words(message: str) -> str:
    """`message` with its instructions in the words of the command line."""
    for pattern, replacement in _COMPILED:
        message = pattern.sub(replacement, message)
    return message
