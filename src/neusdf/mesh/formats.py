"""Input mesh formats, in a module without heavy imports: object discovery (run by every
``snakemake`` invocation) needs the list, not trimesh."""

SUPPORTED_EXTENSIONS = (".obj", ".ply", ".stl", ".off", ".glb")
