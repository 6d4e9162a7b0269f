"""The mesh formats `save` can write (kept apart so the CLI can list them without importing torch)."""

FORMATS = ("obj", "glb", "ply", "json")
DEFAULT_FORMATS = ("obj", "glb", "json")
GLB_TEXTURES = ("jpeg", "png")  # how the GLB embeds the skin texture: a quarter of the bytes, or lossless
