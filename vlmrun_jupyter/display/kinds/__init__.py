"""One renderer module per artifact kind, named by `kinds.KINDS[kind].renderer`.

Each exports `RENDERER` (a `display.registry.Renderer`) and imports its codecs inside
the functions that decode, so the registry can read a renderer's version cheaply.
"""
