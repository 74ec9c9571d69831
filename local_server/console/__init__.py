"""The operator's console: server-rendered pages at `/` of the office node (docs/console.md).

Bahasa Indonesia by default, English selectable; times in the office's zone; every asset served
by the node itself, so it works with the office cut off from the internet.
"""
